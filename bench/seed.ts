// Bulk history written with plain SQL (generate_series), then every counter the API keeps is derived
// from the rows themselves, so the seeded state is exactly what the API would have produced by sending
// the same messages one by one. checkConsistency() verifies that claim after seeding and after the
// write benchmark (which also validates that the raw-SQL floor does what a real send does).
import type pg from "pg";

/** Schema for benchmark-only helpers, so nothing is added to the app's own schema. */
export async function installHelpers(db: pg.Pool): Promise<void> {
  // UUIDv7 stamped with the message's own time, like Prisma's uuid(7) default: the primary-key index
  // then sees the same append-mostly insertion pattern as in production.
  await db.query(`
    CREATE SCHEMA IF NOT EXISTS bench;
    CREATE OR REPLACE FUNCTION bench.uuid7(at timestamp) RETURNS uuid LANGUAGE sql VOLATILE AS $$
      SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send((extract(epoch FROM at) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
        52, 1), 53, 1), 'hex')::uuid
    $$;`);
}

export type HistorySpec = {
  conversationId: string;
  /** Active members; senders take turns in runs of three, so every member has messages. */
  memberIds: readonly string[];
  /** Final number of messages (seq 1..total); messages the API already wrote count towards it. */
  total: number;
  /** Time of the newest message. */
  endAt: Date;
  /** Time between consecutive messages. */
  stepMs: number;
  /** How many of the newest messages each member has not read yet (their own always count as read). */
  behind: (userId: string) => number;
};

// Every REPLY_EVERY-th seq is a thread reply to the top-level message three seqs earlier; every
// TOMBSTONE_EVERY-th (that is not a reply) is deleted. Both exercise counters the API maintains.
const REPLY_EVERY = 50;
const TOMBSTONE_EVERY = 997;

/**
 * Appends messages to a conversation the API created (and may already have written to), then
 * recomputes its counters. One transaction per conversation, holding the row lock like a send does.
 */
export async function seedHistory(db: pg.Pool, spec: HistorySpec): Promise<void> {
  const c = await db.connect();
  try {
    await c.query("BEGIN");
    // A log writer registers first, as the app's writer does (prisma/migrations/*_event_log_writers).
    await c.query("SELECT event_log_register()");
    const id = spec.conversationId;
    const { rows } = await c.query<{ lastSeq: number }>(
      `SELECT "lastSeq" FROM "Conversation" WHERE id = $1 FOR UPDATE`,
      [id],
    );
    const existing = rows[0]?.lastSeq;
    if (existing === undefined) throw new Error(`conversation ${id} not found`);
    if (existing > spec.total) throw new Error(`conversation ${id} already has ${existing} messages`);
    // Message i is sent at endAt - (total - i) * step; the rows the API wrote get the same timeline.
    const timeOf = `($3::timestamptz AT TIME ZONE 'UTC') - (($4::int - seq) * $5::float8) * interval '1 millisecond'`;
    await c.query(
      `INSERT INTO "Message" (id, "conversationId", seq, "senderId", content, "createdAt", "deletedAt")
       SELECT bench.uuid7(t.at), $1, seq, ($2::uuid[])[1 + (seq / 3) % cardinality($2::uuid[])],
              CASE WHEN t.tomb THEN NULL ELSE 'seeded message #' || seq END,
              t.at, CASE WHEN t.tomb THEN t.at + interval '1 second' END
       FROM generate_series($6::int + 1, $4::int) AS seq
       CROSS JOIN LATERAL (SELECT ${timeOf} AS at, seq % ${TOMBSTONE_EVERY} = 0 AND seq % ${REPLY_EVERY} <> 0 AS tomb) t`,
      [id, spec.memberIds, spec.endAt.toISOString(), spec.total, spec.stepMs, existing],
    );
    await c.query(`UPDATE "Message" SET "createdAt" = ${timeOf} WHERE "conversationId" = $1 AND seq <= $2`, [
      id,
      existing,
      spec.endAt.toISOString(),
      spec.total,
      spec.stepMs,
    ]);
    // Threads: reply parents are always top-level (seq - 3 is never a multiple of REPLY_EVERY).
    await c.query(
      `UPDATE "Message" r SET "parentId" = p.id
       FROM "Message" p
       WHERE r."conversationId" = $1 AND p."conversationId" = $1 AND r.seq > $2 AND r.seq % ${REPLY_EVERY} = 0
         AND p.seq = r.seq - 3 AND p."deletedAt" IS NULL`,
      [id, existing],
    );
    await c.query(
      `UPDATE "Message" p SET "replyCount" = t.n, "lastReplyAt" = t.last
       FROM (SELECT "parentId" AS id, count(*)::int AS n, max("createdAt") AS last FROM "Message"
             WHERE "conversationId" = $1 AND "parentId" IS NOT NULL GROUP BY 1) t
       WHERE p.id = t.id`,
      [id],
    );
    // The event log gets what the sends (and deletes) would have appended, in seq order.
    await c.query(
      `INSERT INTO "Event" (type, "conversationId", "messageId", seq, payload, "createdAt")
       SELECT CASE WHEN "parentId" IS NULL THEN 'message.created' ELSE 'message.replied' END,
              "conversationId", id, seq,
              jsonb_build_object('senderId', "senderId")
                || CASE WHEN "parentId" IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('parentId', "parentId") END,
              "createdAt"
       FROM "Message" WHERE "conversationId" = $1 AND seq > $2 ORDER BY seq`,
      [id, existing],
    );
    await c.query(
      `INSERT INTO "Event" (type, "conversationId", "messageId", seq, payload, "createdAt")
       SELECT 'message.deleted', "conversationId", id, seq, jsonb_build_object('deletedBy', "senderId"), "deletedAt"
       FROM "Message" WHERE "conversationId" = $1 AND seq > $2 AND "deletedAt" IS NOT NULL ORDER BY seq`,
      [id, existing],
    );
    await c.query(
      `UPDATE "Conversation" c
       SET "lastSeq" = s.last_seq, "messageCount" = s.top_level, "lastActivityAt" = s.last_at,
           "createdAt" = s.first_at - interval '1 minute',
           "lastMessageId" = (SELECT m.id FROM "Message" m WHERE m."conversationId" = c.id AND m."parentId" IS NULL
                              ORDER BY m.seq DESC LIMIT 1)
       FROM (SELECT max(seq) AS last_seq, (count(*) FILTER (WHERE "parentId" IS NULL))::int AS top_level,
                    max("createdAt") AS last_at, min("createdAt") AS first_at
             FROM "Message" WHERE "conversationId" = $1) s
       WHERE c.id = $1`,
      [id],
    );
    // Read pointers: never behind the member's own newest message (sending moves it), and the unread
    // counter is exactly the definition: others' messages after the pointer, tombstones excluded.
    for (const userId of spec.memberIds) {
      await c.query(
        `WITH ptr AS (
           SELECT GREATEST(0, c."lastSeq" - $3::int,
             COALESCE((SELECT max(seq) FROM "Message" WHERE "conversationId" = $1 AND "senderId" = $2), 0)) AS seq,
             c."createdAt" AS created
           FROM "Conversation" c WHERE c.id = $1)
         UPDATE "Membership" mb
         SET "lastReadSeq" = ptr.seq, "joinedAt" = ptr.created,
             "lastReadAt" = (SELECT "createdAt" FROM "Message" WHERE "conversationId" = $1 AND seq = ptr.seq),
             "unreadCount" = (SELECT count(*)::int FROM "Message" m WHERE m."conversationId" = $1 AND m.seq > ptr.seq
                              AND m."deletedAt" IS NULL AND m."senderId" IS DISTINCT FROM $2::uuid)
         FROM ptr WHERE mb."conversationId" = $1 AND mb."userId" = $2`,
        [id, userId, spec.behind(userId)],
      );
    }
    await c.query("COMMIT");
  } catch (error) {
    await c.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    c.release();
  }
}

/** Each check counts rows whose stored counter disagrees with what the rows say. */
const CHECKS: Record<string, string> = {
  "seq 1..lastSeq without gaps": `
    SELECT count(*) FROM "Conversation" c CROSS JOIN LATERAL (
      SELECT count(*) AS n, COALESCE(max(seq), 0) AS mx, COALESCE(min(seq), 1) AS mn
      FROM "Message" m WHERE m."conversationId" = c.id) s
    WHERE s.n <> c."lastSeq" OR s.mx <> c."lastSeq" OR s.mn <> 1`,
  "messageCount = top-level messages": `
    SELECT count(*) FROM "Conversation" c
    WHERE c."messageCount" <> (SELECT count(*) FROM "Message" m WHERE m."conversationId" = c.id AND m."parentId" IS NULL)`,
  "lastMessageId = newest top-level": `
    SELECT count(*) FROM "Conversation" c
    WHERE c."lastMessageId" IS DISTINCT FROM (SELECT m.id FROM "Message" m
      WHERE m."conversationId" = c.id AND m."parentId" IS NULL ORDER BY m.seq DESC LIMIT 1)`,
  "lastActivityAt >= newest message": `
    SELECT count(*) FROM "Conversation" c
    WHERE c."lastActivityAt" < (SELECT max(m."createdAt") FROM "Message" m WHERE m."conversationId" = c.id)
      - interval '1 second'`,
  "replyCount = replies": `
    SELECT count(*) FROM "Message" p LEFT JOIN (
      SELECT "parentId", count(*) AS n FROM "Message" WHERE "parentId" IS NOT NULL GROUP BY 1) r ON r."parentId" = p.id
    WHERE p."replyCount" <> COALESCE(r.n, 0)`,
  "sender's pointer at own newest": `
    SELECT count(*) FROM "Membership" mb
    WHERE mb."leftAt" IS NULL AND mb."lastReadSeq" < COALESCE((SELECT max(seq) FROM "Message" m
      WHERE m."conversationId" = mb."conversationId" AND m."senderId" = mb."userId"), 0)`,
  "unreadCount = others' live messages after pointer": `
    SELECT count(*) FROM "Membership" mb
    WHERE mb."leftAt" IS NULL AND mb."unreadCount" <> (SELECT count(*) FROM "Message" m
      WHERE m."conversationId" = mb."conversationId" AND m.seq > mb."lastReadSeq" AND m."deletedAt" IS NULL
        AND m."senderId" IS DISTINCT FROM mb."userId")`,
  "one message event per message": `
    SELECT count(*) FROM "Conversation" c
    WHERE (SELECT count(*) FROM "Message" m WHERE m."conversationId" = c.id)
       <> (SELECT count(*) FROM "Event" e WHERE e."conversationId" = c.id
           AND e.type IN ('message.created', 'message.replied'))`,
};

/** Returns the failed checks with how many rows violate each (empty when everything agrees). */
export async function checkConsistency(db: pg.Pool): Promise<string[]> {
  const failures: string[] = [];
  for (const [name, sql] of Object.entries(CHECKS)) {
    const { rows } = await db.query<{ count: string }>(sql);
    const bad = Number(rows[0]?.count ?? 0);
    if (bad > 0) failures.push(`${name}: ${bad} row(s)`);
  }
  return failures;
}
