import { v7 as uuidv7 } from "uuid";
import { type Actor, requireUser } from "../../core/actor.ts";
import { badInput, conflict, forbidden, notFound } from "../../core/errors.ts";
import { cleanClientMessageId, cleanContent, isUuid } from "../../core/input.ts";
import { consume } from "../../core/limits.ts";
import type { Services } from "../../core/services.ts";
import type { Emit } from "../../events/writer.ts";
import { writeLoggedStatement, writeTransaction } from "../../events/writer.ts";
import { type Message, Prisma } from "../../generated/prisma/client.ts";
import { requireUserRef } from "../users/users.ts";
import { lockMembership, requireVisibleMessage } from "./visibility.ts";

export type SendMessageInput = {
  /** A user (id or username): the direct conversation with them, opened on first use. */
  to?: string | null | undefined;
  conversationId?: string | null | undefined;
  content: string;
  clientMessageId?: string | null | undefined;
};

export type ReplyInput = { parentId: string; content: string; clientMessageId?: string | null | undefined };

/** A sent message, and whether it is an earlier one returned for a repeated clientMessageId. */
export type Sent = { message: Message; replayed: boolean };

/**
 * `sendMessage`: into a conversation the viewer is a member of, or to a user. A repeated
 * clientMessageId aimed at the same place returns the first message; aimed anywhere else it is a
 * CONFLICT, so a key never leads to a message its sender can no longer see.
 */
export async function sendMessage(
  services: Services,
  actor: Actor,
  input: SendMessageInput,
): Promise<Message> {
  const viewer = requireUser(actor);
  await consume(services.limits.send, viewer.id);
  return (await postMessage(services, viewer.id, input)).message;
}

/** `replyToMessage`: a reply in the thread of a visible message (a reply to a reply joins its thread). */
export async function replyToMessage(services: Services, actor: Actor, input: ReplyInput): Promise<Message> {
  const viewer = requireUser(actor);
  await consume(services.limits.send, viewer.id);
  const content = cleanContent(input.content, services.config.maxMessageLength);
  const clientMessageId = cleanClientMessageId(input.clientMessageId);
  const { message: target } = await requireVisibleMessage(services, viewer.id, input.parentId);
  const parent = { id: target.parentId ?? target.id, conversationId: target.conversationId };
  const sent = await deliver(services, {
    senderId: viewer.id,
    content,
    clientMessageId,
    target: { conversationId: parent.conversationId },
    parent,
  });
  return sent.message;
}

/**
 * Checks and sends one message for `senderId`, without the per-user rate limit: the body of
 * sendMessage, and what a scheduled message runs when it fires (the job acts for its sender, through
 * the same checks, which may have changed since it was scheduled).
 */
export async function postMessage(
  services: Services,
  senderId: string,
  input: SendMessageInput,
): Promise<Sent> {
  if ((input.to == null) === (input.conversationId == null)) {
    throw badInput("to", "Give exactly one of `to` and `conversationId`");
  }
  const content = cleanContent(input.content, services.config.maxMessageLength);
  const clientMessageId = cleanClientMessageId(input.clientMessageId);
  let target: Target;
  if (input.to != null) {
    const other = await requireUserRef(services, input.to, "to");
    if (other.id === senderId) throw badInput("to", "You cannot send a message to yourself");
    target = { directWith: other.id };
  } else {
    target = { conversationId: String(input.conversationId) };
  }
  return deliver(services, { senderId, content, clientMessageId, target });
}

type Target = { conversationId: string } | { directWith: string };

type Delivery = {
  senderId: string;
  content: string;
  clientMessageId: string | null;
  target: Target;
  /** Set for thread replies: the top-level message the reply belongs to. */
  parent?: { id: string; conversationId: string } | undefined;
};

/** A message row as the send statement returns it, with the position of its event. */
type SentRow = Message & { eventId: bigint; eventTxid: bigint };

/** The transaction lost the ordering race for the conversation: run it again with a newer one. */
class OutOfOrder extends Error {}

/** The clientMessageId is taken by one of the sender's messages in `conversationId`. */
class Repeated extends Error {
  constructor(readonly conversationId: string) {
    super("repeated clientMessageId");
  }
}

const MAX_ATTEMPTS = 8;

/**
 * Sends. Into an existing conversation this is ONE SQL statement (one implicit transaction): it
 * allocates the next seq under the conversation row lock, checks membership after the lock, inserts
 * the row, moves every counter and appends the event (the log writer's single-statement form). A
 * first direct message runs the same statement inside a transaction that also creates (or revives)
 * the conversation.
 */
async function deliver(services: Services, input: Delivery): Promise<Sent> {
  const { senderId, clientMessageId, target } = input;
  for (let attempt = 1; ; attempt++) {
    try {
      const existing =
        "conversationId" in target
          ? target.conversationId
          : await activeDirect(services, senderId, target.directWith);
      // An empty conversationId names no conversation (NOT_FOUND in sendInto), not "start a direct one".
      const row =
        existing !== null
          ? await writeLoggedStatement(services, () => sendInto(services.prisma, existing, input))
          : await sendFirstDirect(services, input, "directWith" in target ? target.directWith : "");
      const { eventId: _id, eventTxid: _txid, ...message } = row;
      return { message, replayed: false };
    } catch (error) {
      if (error instanceof OutOfOrder && attempt < MAX_ATTEMPTS) continue;
      // The sender's key is taken (a client retried, or two sends raced): the insert hit the unique
      // index and rolled back whole, seq included. The statement checked membership first, so the
      // sender is a member of that conversation now.
      if (error instanceof Repeated && clientMessageId) return replay(services, input, error.conversationId);
      throw error;
    }
  }
}

/** The first message with this key, if it went to the same place; CONFLICT otherwise. */
async function replay(services: Services, input: Delivery, conversationId: string): Promise<Sent> {
  const first = await services.prisma.message.findUnique({
    where: {
      senderId_clientMessageId: { senderId: input.senderId, clientMessageId: input.clientMessageId ?? "" },
    },
  });
  if (!first) throw conflict("clientMessageId was used concurrently: retry");
  if (first.conversationId !== conversationId || first.parentId !== (input.parent?.id ?? null)) {
    throw clientMessageIdTaken();
  }
  return { message: first, replayed: true };
}

export const clientMessageIdTaken = () =>
  conflict("clientMessageId was already used for another message: use a new one", "clientMessageId");

/** The direct conversation of the pair when it exists and both are in it (the common case). */
async function activeDirect(services: Services, senderId: string, otherId: string) {
  const conversation = await services.prisma.conversation.findUnique({
    where: { directKey: [senderId, otherId].sort().join(":") },
    select: { id: true, memberships: { where: { leftAt: null }, select: { userId: true } } },
  });
  return conversation && conversation.memberships.length === 2 ? conversation.id : null;
}

/**
 * First message of a pair (or after one of them left): create or revive the conversation and send,
 * in one transaction. The conversation's own events are logged before the message's.
 */
function sendFirstDirect(services: Services, input: Delivery, otherId: string): Promise<SentRow> {
  return writeTransaction(services, async (tx, emit) => {
    const conversationId = await ensureDirect(tx, emit, input.senderId, otherId);
    await emit.flush(); // the conversation's events come before the message's
    const sent = await sendInto(tx, conversationId, input);
    emit.logged({ txid: sent.eventTxid, id: sent.eventId });
    return sent;
  });
}

/**
 * One send, through the `send_message` SQL function (prisma/migrations/*_send_message_function):
 * conversation lock, membership check after the lock, ordering fence, seq, insert, counters and
 * event in one round trip.
 */
async function sendInto(
  db: Prisma.TransactionClient,
  conversationId: string,
  input: Delivery,
): Promise<SentRow> {
  if (!isUuid(conversationId)) throw notFound("Conversation");
  const { senderId, content, clientMessageId } = input;
  try {
    const [row] = await db.$queryRaw<(SentRow & { status: "ok" | "not_member" | "out_of_order" })[]>`
      SELECT * FROM send_message(${uuidv7()}::uuid, ${conversationId}::uuid, ${senderId}::uuid, ${content},
        ${input.parent?.id ?? null}::uuid, ${clientMessageId})`;
    if (row?.status === "out_of_order") throw new OutOfOrder();
    if (row?.status !== "ok") throw notFound("Conversation");
    const { status: _status, ...sent } = row;
    return sent;
  } catch (error) {
    if (clientMessageId && isUniqueViolation(error)) throw new Repeated(conversationId);
    throw error;
  }
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

/** `editMessage`: the author changes the content; the earlier content is kept as a revision. */
export async function editMessage(
  services: Services,
  actor: Actor,
  input: { id: string; content: string },
): Promise<string> {
  const viewer = requireUser(actor);
  const content = cleanContent(input.content, services.config.maxMessageLength);
  const { message } = await requireVisibleMessage(services, viewer.id, input.id);
  if (message.senderId !== viewer.id) throw forbidden("Only the author can edit a message");
  await writeTransaction(services, async (tx, emit) => {
    // Still a member once the conversation is locked: a removal cannot slip in between.
    await lockMembership(tx, message.conversationId, viewer.id, { mode: "SHARE" }).catch(() => {
      throw notFound("Message");
    });
    // Row lock: two concurrent edits each keep the content they replaced as a revision.
    const [row] = await tx.$queryRaw<{ content: string | null; deletedAt: Date | null }[]>`
      SELECT content, "deletedAt" FROM "Message" WHERE id = ${message.id}::uuid FOR UPDATE`;
    if (!row || row.deletedAt || row.content === null) throw conflict("A deleted message cannot be edited");
    if (row.content === content) return;
    await tx.messageRevision.create({ data: { messageId: message.id, content: row.content } });
    await tx.message.update({ where: { id: message.id }, data: { content, editedAt: new Date() } });
    emit({
      type: "message.edited",
      conversationId: message.conversationId,
      messageId: message.id,
      seq: message.seq,
      payload: {},
    });
  });
  return message.id;
}

/** `deleteMessage`: the author, or a group OWNER/ADMIN, leaves a tombstone in its place. */
export async function deleteMessage(
  services: Services,
  actor: Actor,
  input: { id: string },
): Promise<string> {
  const viewer = requireUser(actor);
  const { message } = await requireVisibleMessage(services, viewer.id, input.id);
  if (message.deletedAt) return message.id;
  await writeTransaction(services, async (tx, emit) => {
    // The role is read after the conversation lock, so a concurrent demotion or removal wins or loses
    // as a whole.
    const me = await lockMembership(tx, message.conversationId, viewer.id).catch(() => {
      throw notFound("Message");
    });
    const moderator = me.kind === "GROUP" && (me.role === "OWNER" || me.role === "ADMIN");
    if (message.senderId !== viewer.id && !moderator) {
      throw forbidden("Only the author or a group owner/admin can delete a message");
    }
    const { count } = await tx.message.updateMany({
      where: { id: message.id, deletedAt: null },
      data: { content: null, deletedAt: new Date() },
    });
    if (count === 0) return; // deleted concurrently
    // The tombstone keeps its place; its text goes, earlier revisions included.
    await tx.messageRevision.deleteMany({ where: { messageId: message.id } });
    // Members who had not read it yet no longer have it to read.
    await tx.$executeRaw`
      UPDATE "Membership" SET "unreadCount" = "unreadCount" - 1
      WHERE "conversationId" = ${message.conversationId}::uuid AND "leftAt" IS NULL AND "unreadCount" > 0
        AND "lastReadSeq" < ${message.seq} AND "userId" IS DISTINCT FROM ${message.senderId}::uuid`;
    emit({
      type: "message.deleted",
      conversationId: message.conversationId,
      messageId: message.id,
      seq: message.seq,
      payload: { deletedBy: viewer.id },
    });
  });
  return message.id;
}
