import { PothosValidationError } from "@pothos/core";
import { GraphQLError, visit } from "graphql";

/** The fixed set of error codes clients can rely on (DESIGN.md, "Errors"). */
export type ErrorCode =
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "BAD_USER_INPUT"
  | "CONFLICT"
  | "RATE_LIMITED";

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

/**
 * Turns the few library errors that describe bad input into coded errors; everything else stays
 * masked by yoga (no stack traces or SQL reach a client).
 */
export function toClientError(error: unknown): GraphQLError | undefined {
  const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
  if (original instanceof GraphQLError && original.extensions?.code) return original;
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
