// Direct SQL access to this run's test database, for checks the API cannot make (row counts, the
// Event log). Read-only by convention: tests change state through the API only.
import pg from "pg";
import { inject } from "vitest";

export type EventRow = {
  id: bigint;
  type: string;
  conversationId: string | null;
  userId: string | null;
  messageId: string | null;
  seq: number | null;
  payload: Record<string, unknown>;
};

export type Sql = {
  query<T extends pg.QueryResultRow = Record<string, unknown>>(
    text: string,
    params?: unknown[],
  ): Promise<T[]>;
  /** One integer from a `SELECT count(*)::int AS n ...`-style query. */
  count(text: string, params?: unknown[]): Promise<number>;
  /** Rows of the Message table in a conversation (replies and tombstones included). */
  messageCount(conversationId: string): Promise<number>;
  /** Rows of the Message table sent by a user, in any conversation. */
  messagesBySender(userId: string): Promise<number>;
  /** The largest Event id so far (0n for an empty log). */
  maxEventId(): Promise<bigint>;
  /**
   * Events after `afterId` that concern any of the given conversations or users (as the event's
   * conversationId, userId or payload.senderId), in id order.
   */
  eventsSince(
    afterId: bigint,
    about: { conversationIds?: string[]; userIds?: string[] },
  ): Promise<EventRow[]>;
  close(): Promise<void>;
};

export function openSql(): Sql {
  const connectionString = inject("databaseUrl");
  if (!connectionString) throw new Error("PostgreSQL is not available for this test run");
  const pool = new pg.Pool({ connectionString, max: 3 });

  const query = async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []) =>
    (await pool.query<T>(text, params)).rows;

  const count = async (text: string, params: unknown[] = []) => {
    const [row] = await query<{ n: number | string }>(text, params);
    if (!row) throw new Error(`no row from ${text}`);
    return Number(row.n);
  };

  return {
    query,
    count,
    messageCount: (conversationId) =>
      count(`SELECT count(*)::int AS n FROM "Message" WHERE "conversationId" = $1::uuid`, [conversationId]),
    messagesBySender: (userId) =>
      count(`SELECT count(*)::int AS n FROM "Message" WHERE "senderId" = $1::uuid`, [userId]),
    maxEventId: async () => {
      const [row] = await query<{ id: string | null }>(`SELECT max(id)::text AS id FROM "Event"`);
      return BigInt(row?.id ?? 0);
    },
    eventsSince: async (afterId, { conversationIds = [], userIds = [] }) => {
      const rows = await query<Omit<EventRow, "id"> & { id: string }>(
        `SELECT id::text AS id, type, "conversationId"::text AS "conversationId", "userId"::text AS "userId",
                "messageId"::text AS "messageId", seq, payload
           FROM "Event"
          WHERE id > $1::bigint
            AND ("conversationId"::text = ANY($2::text[])
                 OR "userId"::text = ANY($3::text[])
                 OR payload->>'senderId' = ANY($3::text[]))
          ORDER BY "Event".id`,
        [afterId.toString(), conversationIds, userIds],
      );
      return rows.map((r) => ({ ...r, id: BigInt(r.id) }));
    },
    close: () => pool.end(),
  };
}
