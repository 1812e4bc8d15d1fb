import { badInput } from "../core/errors.ts";
import { isUuid } from "../core/input.ts";

/**
 * Pothos decodes connection cursors but cannot know our ids are UUIDs: a well-formed cursor around
 * a bad id would reach a uuid column and fail as an unexpected error. Check it before the query runs.
 */
export function withValidCursor<Q extends { cursor?: unknown }>(
  query: Q,
  args: { before?: string | null },
): Q {
  const cursor = query.cursor as { id?: unknown } | undefined;
  if (cursor !== undefined && !(typeof cursor.id === "string" && isUuid(cursor.id))) {
    throw badInput(
      args.before != null ? "before" : "after",
      "Invalid cursor: pass a cursor this connection returned",
    );
  }
  return query;
}
