import { type Actor, requireUser } from "../../core/actor.ts";
import { badInput } from "../../core/errors.ts";
import type { Services } from "../../core/services.ts";
import { writeTransaction } from "../../events/writer.ts";
import { lockConversation, requireMembership, requireVisibleMessage } from "./visibility.ts";

/**
 * Moves the viewer's read pointer forward, to a message or to the conversation's latest; never
 * back. Returns the conversation id.
 */
export async function markRead(
  services: Services,
  actor: Actor,
  args: { messageId?: string | null; conversationId?: string | null },
): Promise<string> {
  const viewerId = requireUser(actor).id;
  let conversationId: string;
  let target: { seq: number; messageId: string } | null = null;
  // An empty id is an id that names nothing (NOT_FOUND), not a missing argument.
  if (args.messageId != null) {
    const { message } = await requireVisibleMessage(services, viewerId, args.messageId);
    if (message.senderId === viewerId)
      throw badInput("messageId", "You cannot mark your own message as read");
    if (args.conversationId != null && args.conversationId !== message.conversationId) {
      throw badInput("conversationId", "The message is not in this conversation");
    }
    conversationId = message.conversationId;
    target = { seq: message.seq, messageId: message.id };
  } else if (args.conversationId != null) {
    conversationId = args.conversationId;
    await requireMembership(services.prisma, conversationId, viewerId);
  } else {
    throw badInput("messageId", "Give messageId or conversationId");
  }

  await writeTransaction(services, async (tx, emit) => {
    // A share lock waits out sends in flight and holds new ones back, so the unread count below
    // is exact when it commits.
    const lastSeq = await lockConversation(tx, conversationId, "SHARE");
    const seq = target?.seq ?? lastSeq;
    const rows = await tx.$queryRaw<{ lastReadSeq: number }[]>`
      UPDATE "Membership" SET "lastReadSeq" = ${seq}, "lastReadAt" = now(), "unreadCount" = (
        SELECT count(*)::int FROM "Message"
        WHERE "conversationId" = ${conversationId}::uuid AND seq > ${seq} AND "deletedAt" IS NULL
          AND "senderId" IS DISTINCT FROM ${viewerId}::uuid)
      WHERE "conversationId" = ${conversationId}::uuid AND "userId" = ${viewerId}::uuid
        AND "leftAt" IS NULL AND "lastReadSeq" < ${seq}
      RETURNING "lastReadSeq"`;
    if (rows.length === 0) return; // already read that far: the pointer never moves back
    emit({
      type: "receipt.updated",
      conversationId,
      userId: viewerId,
      messageId: target?.messageId ?? null,
      seq,
      payload: { lastReadSeq: seq },
    });
  });
  return conversationId;
}
