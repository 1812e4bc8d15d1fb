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

/**
 * For related connections (`t.relatedConnection`), whose cursor Pothos decodes while the parent
 * row loads, before any resolver of ours runs: `after` / `before` must be a cursor this connection
 * returned (Pothos' "GPC:S:<id>", base64), around one of our UUIDs. Call it from the connection's
 * `query` callback: its `args` hold the connection arguments too, though its type shows only the
 * field's own.
 */
export function checkIdCursors(args: object): void {
  const given = args as { after?: unknown; before?: unknown };
  for (const field of ["after", "before"] as const) {
    const cursor = given[field];
    if (cursor == null) continue;
    const id =
      typeof cursor === "string" && cursor.length <= 200
        ? /^GPC:S:(.*)$/s.exec(Buffer.from(cursor, "base64").toString("utf8"))?.[1]
        : undefined;
    if (id === undefined || !isUuid(id)) {
      throw badInput(field, "Invalid cursor: pass a cursor this connection returned");
    }
  }
}
