// Direct SQL against a test database, for what the API cannot show (row counts, the Event log, job
// rows) and for setup the API has no operation for. Tests change state through the API otherwise.
import pg from "pg";
import { afterAll, inject } from "vitest";

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
  /** The rows of `text`, with `$1`, `$2` ... bound to `params`. */
  query<T extends pg.QueryResultRow = Record<string, unknown>>(
    text: string,
    params?: unknown[],
  ): Promise<T[]>;
  /** The number in column `n` of the one row of a `SELECT count(*) AS n ...`-style query. */
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
};

/**
 * SQL on this run's test database, or on `url()` (e.g. a scratch database's): a small pool, opened
 * at the first query and closed after the tests of the enclosing file or describe block. Register
 * it after the fixture that provides `url`, so it closes before that database is dropped.
 */
export function useSql(url?: () => string): Sql {
  let pool: pg.Pool | undefined;
  const open = () => {
    if (pool) return pool;
    const connectionString = url ? url() : inject("databaseUrl");
    if (!connectionString) throw new Error("PostgreSQL is not available for this test run");
    pool = new pg.Pool({ connectionString, max: 3 });
    // An idle connection ended by the server (a scratch database dropped WITH (FORCE)) must not
    // become an uncaught error in the test process.
    pool.on("error", () => {});
    return pool;
  };
  afterAll(async () => {
    const p = pool;
    pool = undefined;
    await p?.end();
  });

  const query = async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []) =>
    (await open().query<T>(text, params)).rows;

  const count = async (text: string, params: unknown[] = []) => {
    const [row] = await query<{ n: number | string }>(text, params);
    const n = Number(row?.n);
    if (!row || !Number.isFinite(n)) throw new Error(`expected one row with a numeric column n: ${text}`);
    return n;
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
  };
}
