import { v7 as uuidv7 } from "uuid";
import { conflict, forbidden, notFound } from "../../core/errors.ts";
import { isUuid } from "../../core/input.ts";
import { appendEvents, type EventInput } from "../../events/log.ts";
import type { Emit } from "../../events/transaction.ts";
import { announce, writeTransaction } from "../../events/transaction.ts";
import { type Message, Prisma } from "../../generated/prisma/client.ts";
import type { Context } from "../../schema/context.ts";
import { lockConversation, requireMembership } from "./visibility.ts";

type Target = { conversationId: string } | { directWith: string };

export type SendInput = {
  senderId: string;
  content: string;
  clientMessageId: string | null;
  target: Target;
  /** Set for thread replies: the top-level message the reply belongs to. */
  parent?: { id: string; conversationId: string } | undefined;
};

/** A message row as the send statement returns it, with the position of its event. */
export type SentMessage = Message & { eventId: bigint; eventTxid: bigint };

/** The transaction lost the ordering race for the conversation: run it again with a newer one. */
class OutOfOrder extends Error {}

const MAX_ATTEMPTS = 8;

/**
 * Sends a message. Into an existing conversation this is ONE SQL statement (one implicit
 * transaction): it allocates the next seq under the conversation row lock, inserts the row, moves
 * every counter (unread of the others, the sender's read pointer, the parent's reply count, the
 * conversation's last message) and appends the event. A first direct message runs the same
 * statement inside a transaction that also creates (or revives) the conversation.
 * Returns the new message, or for a repeated clientMessageId the first one.
 */
export async function sendMessage(ctx: Context, input: SendInput): Promise<Message> {
  const { senderId, clientMessageId, target } = input;
  for (let attempt = 1; ; attempt++) {
    try {
      const existing =
        "conversationId" in target
          ? target.conversationId
          : await activeDirect(ctx, senderId, target.directWith);
      const sent = existing
        ? await sendInto(ctx.prisma, existing, input)
        : await sendFirstDirect(ctx, input, "directWith" in target ? target.directWith : "");
      announce(ctx.pubsub, [{ txid: sent.eventTxid, id: sent.eventId }]);
      const { eventId: _id, eventTxid: _txid, ...message } = sent;
      return message;
    } catch (error) {
      if (error instanceof OutOfOrder && attempt < MAX_ATTEMPTS) continue;
      // Two sends with one clientMessageId raced (or a client retried): the loser's insert hit the
      // unique index and rolled back whole, seq included; answer with the first message.
      if (clientMessageId && isUniqueViolation(error)) {
        const first = await ctx.prisma.message.findUnique({
          where: { senderId_clientMessageId: { senderId, clientMessageId } },
        });
        if (first) return first;
      }
      throw error;
    }
  }
}

/** The direct conversation of the pair when it exists and both are in it (the common case). */
async function activeDirect(ctx: Context, senderId: string, otherId: string) {
  const conversation = await ctx.prisma.conversation.findUnique({
    where: { directKey: [senderId, otherId].sort().join(":") },
    select: { id: true, memberships: { where: { leftAt: null }, select: { userId: true } } },
  });
  return conversation && conversation.memberships.length === 2 ? conversation.id : null;
}

/**
 * First message of a pair (or after one of them left): create or revive the conversation and send,
 * in one transaction. The conversation's own events are logged before the message's.
 */
async function sendFirstDirect(ctx: Context, input: SendInput, otherId: string) {
  const { logged, sent } = await ctx.prisma.$transaction(async (tx) => {
    const events: EventInput[] = [];
    const conversationId = await ensureDirect(tx, (e) => events.push(e), input.senderId, otherId);
    const logged = await appendEvents(tx, events);
    return { logged, sent: await sendInto(tx, conversationId, input) };
  });
  announce(ctx.pubsub, logged);
  return sent;
}

/**
 * One send, through the `send_message` SQL function (prisma/migrations/*_send_message_function):
 * conversation lock, membership check after the lock, ordering fence, seq, insert, counters and
 * event in one round trip.
 */
async function sendInto(
  db: Prisma.TransactionClient,
  conversationId: string,
  input: SendInput,
): Promise<SentMessage> {
  if (!isUuid(conversationId)) throw notFound("Conversation");
  const { senderId, content, clientMessageId } = input;
  const [row] = await db.$queryRaw<(SentMessage & { status: "ok" | "not_member" | "out_of_order" })[]>`
    SELECT * FROM send_message(${uuidv7()}::uuid, ${conversationId}::uuid, ${senderId}::uuid, ${content},
      ${input.parent?.id ?? null}::uuid, ${clientMessageId})`;
  if (row?.status === "out_of_order") throw new OutOfOrder();
  if (row?.status !== "ok") throw notFound("Conversation");
  const { status: _status, ...sent } = row;
  return sent;
}

/** A unique index refused the write: P2002 from model queries, P2010 + SQLSTATE 23505 from raw SQL. */
function isUniqueViolation(e: unknown): boolean {
  if (!(e instanceof Prisma.PrismaClientKnownRequestError)) return false;
  if (e.code === "P2002") return true;
  const cause = (e.meta?.driverAdapterError as { cause?: { originalCode?: string } } | undefined)?.cause;
  return e.code === "P2010" && cause?.originalCode === "23505";
}

/**
 * The direct conversation of a pair, created on first send (race-safe through the unique
 * directKey) and revived for both if either had left it.
 */
async function ensureDirect(tx: Prisma.TransactionClient, emit: Emit, me: string, other: string) {
  const directKey = [me, other].sort().join(":");
  const select = { id: true, memberships: { select: { userId: true, leftAt: true } } } as const;
  let conversation = await tx.conversation.findUnique({ where: { directKey }, select });
  if (!conversation) {
    // ON CONFLICT DO NOTHING waits for a concurrent creator; the next read then sees its row.
    const created = await tx.conversation.createMany({
      data: [{ kind: "DIRECT", directKey }],
      skipDuplicates: true,
    });
    conversation = await tx.conversation.findUniqueOrThrow({ where: { directKey }, select });
    if (created.count === 1)
      emit({ type: "conversation.created", conversationId: conversation.id, payload: {} });
  }
  const active = conversation.memberships.filter((m) => !m.leftAt).length;
  if (active < 2) {
    await tx.membership.createMany({
      data: [me, other].map((userId) => ({ conversationId: conversation.id, userId })),
      skipDuplicates: true,
    });
    await tx.membership.updateMany({
      where: { conversationId: conversation.id, leftAt: { not: null } },
      data: { leftAt: null, joinedAt: new Date() },
    });
    for (const userId of [me, other]) {
      emit({ type: "member.added", conversationId: conversation.id, userId, payload: {} });
    }
  }
  return conversation.id;
}

/** A message the viewer may see (active member of its conversation), or NOT_FOUND. */
export async function requireVisibleMessage(ctx: Context, messageId: string, viewerId: string) {
  const message = isUuid(messageId)
    ? await ctx.prisma.message.findUnique({
        where: { id: messageId },
        select: {
          id: true,
          conversationId: true,
          senderId: true,
          seq: true,
          parentId: true,
          deletedAt: true,
          content: true,
        },
      })
    : null;
  if (!message) throw notFound("Message");
  const membership = await requireMembership(ctx, message.conversationId, viewerId).catch(() => {
    throw notFound("Message");
  });
  return { message, membership };
}

export async function editMessage(ctx: Context, viewerId: string, messageId: string, content: string) {
  const { message } = await requireVisibleMessage(ctx, messageId, viewerId);
  if (message.senderId !== viewerId) throw forbidden("Only the author can edit a message");
  await writeTransaction(ctx, async (tx, emit) => {
    // Row lock: two concurrent edits each keep the content they replaced as a revision.
    const [row] = await tx.$queryRaw<{ content: string | null; deletedAt: Date | null }[]>`
      SELECT content, "deletedAt" FROM "Message" WHERE id = ${messageId}::uuid FOR UPDATE`;
    if (!row || row.deletedAt || row.content === null) throw conflict("A deleted message cannot be edited");
    if (row.content === content) return;
    await tx.messageRevision.create({ data: { messageId, content: row.content } });
    await tx.message.update({ where: { id: messageId }, data: { content, editedAt: new Date() } });
    emit({
      type: "message.edited",
      conversationId: message.conversationId,
      messageId,
      seq: message.seq,
      payload: {},
    });
  });
}

export async function deleteMessage(ctx: Context, viewerId: string, messageId: string) {
  const { message, membership } = await requireVisibleMessage(ctx, messageId, viewerId);
  const moderator =
    membership.kind === "GROUP" && (membership.role === "OWNER" || membership.role === "ADMIN");
  if (message.senderId !== viewerId && !moderator) {
    throw forbidden("Only the author or a group owner/admin can delete a message");
  }
  if (message.deletedAt) return;
  await writeTransaction(ctx, async (tx, emit) => {
    await lockConversation(tx, message.conversationId, "UPDATE");
    const { count } = await tx.message.updateMany({
      where: { id: messageId, deletedAt: null },
      data: { content: null, deletedAt: new Date() },
    });
    if (count === 0) return; // deleted concurrently
    // The tombstone keeps its place; its text goes, earlier revisions included.
    await tx.messageRevision.deleteMany({ where: { messageId } });
    // Members who had not read it yet no longer have it to read.
    await tx.$executeRaw`
      UPDATE "Membership" SET "unreadCount" = "unreadCount" - 1
      WHERE "conversationId" = ${message.conversationId}::uuid AND "leftAt" IS NULL AND "unreadCount" > 0
        AND "lastReadSeq" < ${message.seq} AND "userId" IS DISTINCT FROM ${message.senderId}::uuid`;
    emit({
      type: "message.deleted",
      conversationId: message.conversationId,
      messageId,
      seq: message.seq,
      payload: { deletedBy: viewerId },
    });
  });
}
