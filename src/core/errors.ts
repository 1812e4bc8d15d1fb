import { PothosValidationError } from "@pothos/core";
import { GraphQLError, visit } from "graphql";

/** The fixed set of error codes clients can rely on (DESIGN.md, "Errors"). */
export type ErrorCode =
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "BAD_USER_INPUT"
  | "CONFLICT"
  | "RATE_LIMITED"
  /** The database cannot be reached right now: nothing was done, retry after `retryAfter` seconds. */
  | "UNAVAILABLE";

/** An expected failure: reaches the client unmasked, with `extensions.code` (and more extensions). */
export function codedError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

export const unauthenticated = (message = "Sign in first: send a valid Authorization: Bearer <token>") =>
  codedError("UNAUTHENTICATED", message);

export const forbidden = (message: string) => codedError("FORBIDDEN", message);

/** Same answer for "does not exist" and "exists but you may not see it", so ids leak nothing. */
export const notFound = (what: string) => codedError("NOT_FOUND", `${what} not found`);

/** `field` names the offending argument, so forms and no-code tools can point at it. */
export const badInput = (field: string, message: string) => codedError("BAD_USER_INPUT", message, { field });

/** `field`, when given, names the argument that conflicts (e.g. a reused clientMessageId). */
export const conflict = (message: string, field?: string) =>
  codedError("CONFLICT", message, field ? { field } : {});

/** How long a client should wait before retrying an UNAVAILABLE answer (Retry-After, seconds). */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/**
 * The database is unreachable (down, restarting, refusing or dropping connections, pool timed out):
 * a coded, retryable answer. Over HTTP yoga turns `http` into status 503 and a Retry-After header
 * (and strips it from the body); every transport carries `retryAfter`, as RATE_LIMITED does.
 */
export const unavailable = () =>
  codedError("UNAVAILABLE", "The service is temporarily unavailable (database unreachable): retry shortly", {
    retryAfter: UNAVAILABLE_RETRY_AFTER_SECONDS,
    http: { status: 503, headers: { "Retry-After": String(UNAVAILABLE_RETRY_AFTER_SECONDS) } },
  });

/** Prisma's codes for "cannot reach / lost / timed out on the database server, or no connection to be had". */
const PRISMA_UNAVAILABLE = new Set(["P1001", "P1002", "P1008", "P1017", "P2024", "P2037"]);
/** Driver adapter error kinds (@prisma/adapter-pg) with the same meaning. */
const ADAPTER_UNAVAILABLE = new Set([
  "DatabaseNotReachable",
  "ConnectionClosed",
  "SocketTimeout",
  "TooManyConnections",
]);
/** SQLSTATEs: connection exceptions (08...), server shutting down or starting (57P01-57P03), too many connections. */
const SQLSTATE_UNAVAILABLE = /^(08...|57P0[123]|53300)$/;
/** Socket errors of a connection to the database. */
const SOCKET_UNAVAILABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);
/** node-postgres's own messages for a lost or timed-out connection. */
const PG_UNAVAILABLE =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Unable to start a transaction in the given time/;

/**
 * True when `error` (or what it wraps) says the database could not be reached or the connection to
 * it was lost: Prisma, its pg driver adapter and node-postgres each say it their own way.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current && typeof current === "object"; depth++) {
    const e = current as {
      code?: unknown;
      message?: unknown;
      meta?: { driverAdapterError?: { cause?: { kind?: unknown; code?: unknown; originalCode?: unknown } } };
      cause?: unknown;
      originalError?: unknown;
    };
    const code = typeof e.code === "string" ? e.code : undefined;
    if (
      code &&
      (PRISMA_UNAVAILABLE.has(code) || SOCKET_UNAVAILABLE.has(code) || SQLSTATE_UNAVAILABLE.test(code))
    )
      return true;
    const cause = e.meta?.driverAdapterError?.cause;
    if (typeof cause?.kind === "string" && ADAPTER_UNAVAILABLE.has(cause.kind)) return true;
    for (const sqlState of [cause?.code, cause?.originalCode]) {
      if (typeof sqlState === "string" && SQLSTATE_UNAVAILABLE.test(sqlState)) return true;
    }
    if (typeof e.message === "string" && PG_UNAVAILABLE.test(e.message)) return true;
    current = e.originalError ?? e.cause;
  }
  return false;
}

/**
 * Turns the few library errors that describe bad input into coded errors, and database outages into
 * UNAVAILABLE; everything else stays masked by yoga (no stack traces or SQL reach a client).
 */
export function toClientError(error: unknown): GraphQLError | undefined {
  const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
  if (original instanceof GraphQLError && original.extensions?.code) return original;
  if (isDatabaseUnavailable(original)) return unavailable();
  // Pothos raises these for bad connection arguments (cursor format, first+before, negative sizes).
  if (original instanceof PothosValidationError) {
    const field = error instanceof GraphQLError ? paginationField(error, original.message) : "pagination";
    return new GraphQLError(original.message, {
      ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
      extensions: { code: "BAD_USER_INPUT", field },
    });
  }
  return undefined;
}

/**
 * The argument a Pothos connection error is about: a cursor that does not decode names the cursor
 * argument (`after` or `before`) given in the failing field's selection (a related connection is
 * decoded while its parent loads, so the field may be a parent of the connection), a bad size names
 * `first` / `last`; a bad combination, or a selection with both, stays "pagination".
 */
function paginationField(error: GraphQLError, message: string): string {
  const size = /^Argument "(first|last)"/.exec(message)?.[1];
  if (size) return size;
  if (/cursor|base64/i.test(message) && error.nodes) {
    const given = new Set<string>();
    for (const node of error.nodes) {
      visit(node, {
        Argument: (arg) => {
          if (arg.name.value === "after" || arg.name.value === "before") given.add(arg.name.value);
        },
      });
    }
    const [only] = given;
    if (given.size === 1 && only) return only;
  }
  return "pagination";
}
