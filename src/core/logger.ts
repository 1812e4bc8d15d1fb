import type { GraphQLError } from "graphql";
import type { Plugin, YogaLogger } from "graphql-yoga";
import { type Logger, pino } from "pino";

/** What every log line of one request carries. */
export type RequestScope = { requestId: string; operationName?: string | undefined };

/**
 * The scope of each Node request, looked up through the request object that yoga's context
 * carries. Not AsyncLocalStorage: on Node 20 it switches on promise hooks for every promise in the
 * process, which cost about a fifth of the throughput of a simple query (bench/hardening.ts).
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
 * JSON logs (pino) on stdout. Lines about a request carry its requestId (and operationName) as
 * fields, written by the code that has the request. `destination` is for tests that read lines back.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: "messaging-api" },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    },
    destination ?? pino.destination({ sync: false }),
  );
}

/**
 * yoga's logger interface over pino. Unexpected errors of an operation are logged with their
 * request id by useErrorLogging, which marks them here so yoga's own line about them is not
 * written a second time without it.
 */
export function yogaLogger(logger: Logger, loggedErrors: WeakSet<object>): YogaLogger {
  const forward =
    (level: "debug" | "info" | "warn" | "error") =>
    (...args: unknown[]) => {
      const [first, ...rest] = args;
      if (first instanceof Error) {
        if (loggedErrors.has(first)) return;
        logger[level]({ err: first }, rest.map(String).join(" ") || first.message);
      } else logger[level](args.map((a) => (typeof a === "string" ? a : safeString(a))).join(" "));
    };
  return { debug: forward("debug"), info: forward("info"), warn: forward("warn"), error: forward("error") };
}

/**
 * Logs the unexpected errors of each operation (those masked for the client) with the request's
 * id and operation name; expected, coded errors are answers, not incidents.
 */
export function useErrorLogging(
  logger: Logger,
  loggedErrors: WeakSet<object>,
  isExpected: (error: GraphQLError) => boolean,
): Plugin {
  return {
    onExecute({ args }) {
      return {
        onExecuteDone({ result }) {
          if (!("errors" in result) || !result.errors?.length) return;
          const req = (args.contextValue as { req?: object } | undefined)?.req;
          const scope = req ? scopeOfRequest.get(req) : undefined;
          for (const error of result.errors) {
            if (isExpected(error)) continue;
            loggedErrors.add(error);
            logger.error(
              {
                requestId: scope?.requestId,
                operationName: scope?.operationName,
                err: error.originalError ?? error,
              },
              "unexpected error",
            );
          }
        },
      };
    },
  };
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
      const scope = req ? scopeOfRequest.get(req) : undefined;
      if (!scope) return;
      // Clients often name the operation only in the document: take the first one's name then.
      const name =
        params.operationName ??
        (typeof params.query === "string" ? FIRST_OPERATION_NAME.exec(params.query)?.[1] : undefined);
      if (name) scope.operationName = name.slice(0, 100);
    },
  };
}
