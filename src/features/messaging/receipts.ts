import { badInput } from "../../core/errors.ts";
import { writeTransaction } from "../../events/transaction.ts";
import type { Context } from "../../schema/context.ts";
import { requireVisibleMessage } from "./messages.ts";
import { lockConversation, requireMembership } from "./visibility.ts";

/**
 * Moves the viewer's read pointer forward, to a message or to the conversation's latest; never
 * back. Returns the conversation id.
 */
export async function markRead(
  ctx: Context,
  viewerId: string,
  args: { messageId?: string | null; conversationId?: string | null },
): Promise<string> {
  let conversationId: string;
  let target: { seq: number; messageId: string } | null = null;
  if (args.messageId) {
    const { message } = await requireVisibleMessage(ctx, args.messageId, viewerId);
    if (message.senderId === viewerId)
      throw badInput("messageId", "You cannot mark your own message as read");
    if (args.conversationId && args.conversationId !== message.conversationId) {
      throw badInput("conversationId", "The message is not in this conversation");
    }
    conversationId = message.conversationId;
    target = { seq: message.seq, messageId: message.id };
  } else if (args.conversationId) {
    conversationId = args.conversationId;
    await requireMembership(ctx, conversationId, viewerId);
  } else {
    throw badInput("messageId", "Give messageId or conversationId");
  }

  await writeTransaction(ctx, async (tx, emit) => {
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
