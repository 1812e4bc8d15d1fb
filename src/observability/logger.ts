import { AsyncLocalStorage } from "node:async_hooks";
import type { Plugin, YogaLogger } from "graphql-yoga";
import { type Logger, pino } from "pino";

/** What every log line of one request carries (AsyncLocalStorage: no context threading needed). */
export type RequestScope = { requestId: string; operationName?: string | undefined };

export const requestScope = new AsyncLocalStorage<RequestScope>();

/**
 * The scope of each Node request, for code that has the request but may run outside its async
 * context (whatwg-node resumes some work from socket events).
 */
export const scopeOfRequest = new WeakMap<object, RequestScope>();

/**
 * Field paths that must never reach a log line, whatever gets logged by mistake: credentials,
 * tokens, message content and GraphQL variables (which carry all of them). A backstop: the code
 * logs none of these on purpose.
 */
export const REDACT_PATHS = [
  "password",
  "passwordHash",
  "token",
  "authorization",
  "apiKey",
  "content",
  "variables",
  "*.password",
  "*.passwordHash",
  "*.token",
  "*.authorization",
  "*.apiKey",
  "*.content",
  "*.variables",
  "headers.authorization",
  'headers["x-api-key"]',
  "req.headers.authorization",
  'req.headers["x-api-key"]',
];

/**
 * JSON logs (pino) on stdout, with the current request's id on every line written while a request
 * runs. `destination` is for tests that read the lines back.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: "messaging-api" },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      mixin: () => {
        const scope = requestScope.getStore();
        return scope ? { requestId: scope.requestId, operationName: scope.operationName } : {};
      },
    },
    destination ?? pino.destination({ sync: false }),
  );
}

/** yoga's logger interface over pino, so yoga's own lines are JSON with the request id too. */
export function yogaLogger(logger: Logger): YogaLogger {
  const forward =
    (level: "debug" | "info" | "warn" | "error") =>
    (...args: unknown[]) => {
      const [first, ...rest] = args;
      if (first instanceof Error) logger[level]({ err: first }, rest.map(String).join(" ") || first.message);
      else logger[level](args.map((a) => (typeof a === "string" ? a : safeString(a))).join(" "));
    };
  return { debug: forward("debug"), info: forward("info"), warn: forward("warn"), error: forward("error") };
}

const safeString = (value: unknown) => {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
};

const FIRST_OPERATION_NAME = /^\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/;

/** Puts the operation name (from the request's params) on the request's log lines. */
export function useOperationNameInLogs(): Plugin {
  return {
    onParams({ params, context }) {
      const req = (context as { req?: object } | undefined)?.req;
      const scope = (req && scopeOfRequest.get(req)) ?? requestScope.getStore();
      if (!scope) return;
      // Clients often name the operation only in the document: take the first one's name then.
      const name =
        params.operationName ??
        (typeof params.query === "string" ? FIRST_OPERATION_NAME.exec(params.query)?.[1] : undefined);
      if (name) scope.operationName = name.slice(0, 100);
    },
  };
}
