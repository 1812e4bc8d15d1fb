import { notFound } from "../../core/errors.ts";
import { isUuid } from "../../core/input.ts";
import type { Prisma } from "../../generated/prisma/client.ts";
import type { Context } from "../../schema/context.ts";

/**
 * The viewer's active membership in a conversation, or NOT_FOUND: a conversation the viewer is not
 * in answers exactly like one that does not exist.
 */
export async function requireMembership(ctx: Context, conversationId: string, userId: string) {
  const membership = isUuid(conversationId)
    ? await ctx.prisma.membership.findUnique({
        where: { conversationId_userId: { conversationId, userId } },
        select: { role: true, leftAt: true, lastReadSeq: true, conversation: { select: { kind: true } } },
      })
    : null;
  if (!membership || membership.leftAt) throw notFound("Conversation");
  return { role: membership.role, kind: membership.conversation.kind, lastReadSeq: membership.lastReadSeq };
}

/** Prisma filter: conversations the user is an active member of. */
export const memberOf = (userId: string): Prisma.ConversationWhereInput => ({
  memberships: { some: { userId, leftAt: null } },
});

/**
 * Locks the conversation row for the rest of the transaction. Sends, reads, deletes and membership
 * changes of one conversation all take this lock first, so counters (seq, unread) stay exact and
 * the lock order (conversation, then memberships/messages) rules out deadlocks.
 */
export async function lockConversation(
  tx: Prisma.TransactionClient,
  conversationId: string,
  mode: "UPDATE" | "SHARE",
) {
  const rows =
    mode === "UPDATE"
      ? await tx.$queryRaw<
          { lastSeq: number }[]
        >`SELECT "lastSeq" FROM "Conversation" WHERE id = ${conversationId}::uuid FOR UPDATE`
      : await tx.$queryRaw<
          { lastSeq: number }[]
        >`SELECT "lastSeq" FROM "Conversation" WHERE id = ${conversationId}::uuid FOR SHARE`;
  const row = rows[0];
  if (!row) throw notFound("Conversation");
  return row.lastSeq;
}
