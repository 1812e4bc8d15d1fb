// The "raw floor" for sendMessage: the same rows and counters one API send writes (see
// src/domain/messages.ts), as plain statements over `pg`, one transaction per message. No GraphQL,
// no auth, no ORM: what is left is the database work itself, which the API cannot beat.
import { randomBytes } from "node:crypto";
import type pg from "pg";

/** UUIDv7 (48-bit millisecond timestamp, then random), matching Prisma's uuid(7) ids the API writes. */
export function uuidv7(): string {
  const b = randomBytes(16);
  b.writeUIntBE(Date.now(), 0, 6);
  b.writeUInt8((b.readUInt8(6) & 0x0f) | 0x70, 6);
  b.writeUInt8((b.readUInt8(8) & 0x3f) | 0x80, 8);
  const hex = b.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export async function rawSend(pool: pg.Pool, conversationId: string, senderId: string, content: string) {
  const c = await pool.connect();
  try {
    await c.query("BEGIN");
    // A log writer registers first, as the app's writer does (prisma/migrations/*_event_log_writers).
    await c.query("SELECT event_log_register()");
    // Seq allocation under the conversation row lock, with the same active-membership guard.
    const { rows } = await c.query<{ seq: number }>(
      `UPDATE "Conversation" c
       SET "lastSeq" = c."lastSeq" + 1, "messageCount" = c."messageCount" + 1, "lastActivityAt" = now()
       WHERE c.id = $1 AND EXISTS (SELECT 1 FROM "Membership" m
         WHERE m."conversationId" = c.id AND m."userId" = $2 AND m."leftAt" IS NULL)
       RETURNING c."lastSeq" AS seq`,
      [conversationId, senderId],
    );
    const seq = rows[0]?.seq;
    if (seq === undefined) throw new Error(`raw send: ${senderId} is not a member of ${conversationId}`);
    const id = uuidv7();
    await c.query(
      `INSERT INTO "Message" (id, "conversationId", seq, "senderId", content, "createdAt")
       VALUES ($1, $2, $3, $4, $5, now())`,
      [id, conversationId, seq, senderId, content],
    );
    await c.query(`UPDATE "Conversation" SET "lastMessageId" = $1 WHERE id = $2`, [id, conversationId]);
    await c.query(
      `UPDATE "Membership" SET "unreadCount" = "unreadCount" + 1
       WHERE "conversationId" = $1 AND "userId" <> $2 AND "leftAt" IS NULL`,
      [conversationId, senderId],
    );
    await c.query(
      `UPDATE "Membership" SET "lastReadSeq" = $3, "lastReadAt" = now(), "unreadCount" = 0
       WHERE "conversationId" = $1 AND "userId" = $2`,
      [conversationId, senderId, seq],
    );
    await c.query(
      `INSERT INTO "Event" (type, "conversationId", "messageId", seq, payload)
       VALUES ('message.created', $1, $2, $3, $4)`,
      [conversationId, id, seq, JSON.stringify({ senderId })],
    );
    await c.query("COMMIT");
  } catch (error) {
    await c.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    c.release();
  }
}
