import { badInput, forbidden, notFound } from "../../core/errors.ts";
import { writeTransaction } from "../../events/transaction.ts";
import type { MemberRole } from "../../generated/prisma/client.ts";
import type { Context } from "../../schema/context.ts";
import { requireUserRef, requireUserRefs } from "../users/users.ts";
import { lockConversation, requireMembership } from "./visibility.ts";

/**
 * A departing member's row: nothing left unread, and the pointer at the end, so the counter and the
 * pointer still agree if the member comes back (re-added, or a direct conversation revived).
 */
const departed = (lastSeq: number) => ({ leftAt: new Date(), unreadCount: 0, lastReadSeq: lastSeq });

export async function createGroup(
  ctx: Context,
  ownerId: string,
  title: string,
  memberRefs: readonly string[],
) {
  const users = await requireUserRefs(ctx, memberRefs, "memberIds");
  const others = users.filter((u) => u.id !== ownerId);
  return writeTransaction(ctx, async (tx, emit) => {
    const conversation = await tx.conversation.create({
      data: {
        kind: "GROUP",
        title,
        memberships: {
          create: [
            { userId: ownerId, role: "OWNER" },
            ...others.map((u) => ({ userId: u.id, role: "MEMBER" as const })),
          ],
        },
      },
      select: { id: true },
    });
    emit({ type: "conversation.created", conversationId: conversation.id, payload: { createdBy: ownerId } });
    for (const userId of [ownerId, ...others.map((u) => u.id)]) {
      emit({ type: "member.added", conversationId: conversation.id, userId, payload: { by: ownerId } });
    }
    return conversation.id;
  });
}

/** The viewer's membership in a group they may manage; NOT_FOUND for outsiders. */
async function requireGroupRole(
  ctx: Context,
  conversationId: string,
  viewerId: string,
  allowed: MemberRole[],
) {
  const membership = await requireMembership(ctx, conversationId, viewerId);
  if (membership.kind !== "GROUP")
    throw badInput("conversationId", "Direct conversations have no member management");
  if (!allowed.includes(membership.role)) throw forbidden(`Only a group ${allowed.join(" or ")} can do this`);
  return membership;
}

export async function addMembers(
  ctx: Context,
  viewerId: string,
  conversationId: string,
  refs: readonly string[],
) {
  await requireGroupRole(ctx, conversationId, viewerId, ["OWNER", "ADMIN"]);
  const users = await requireUserRefs(ctx, refs, "memberIds");
  await writeTransaction(ctx, async (tx, emit) => {
    const lastSeq = await lockConversation(tx, conversationId, "UPDATE");
    const existing = await tx.membership.findMany({
      where: { conversationId, userId: { in: users.map((u) => u.id) } },
      select: { userId: true, leftAt: true },
    });
    // New members start with everything before they joined counted as read.
    const joined = {
      role: "MEMBER" as const,
      leftAt: null,
      lastReadSeq: lastSeq,
      unreadCount: 0,
      joinedAt: new Date(),
    };
    for (const user of users) {
      const row = existing.find((m) => m.userId === user.id);
      if (row && !row.leftAt) continue;
      if (row) {
        await tx.membership.update({
          where: { conversationId_userId: { conversationId, userId: user.id } },
          data: joined,
        });
      } else {
        await tx.membership.create({ data: { conversationId, userId: user.id, ...joined } });
      }
      emit({ type: "member.added", conversationId, userId: user.id, payload: { by: viewerId } });
    }
  });
}

export async function removeMember(ctx: Context, viewerId: string, conversationId: string, userRef: string) {
  const me = await requireGroupRole(ctx, conversationId, viewerId, ["OWNER", "ADMIN"]);
  const user = await requireUserRef(ctx, userRef, "userId");
  if (user.id === viewerId) throw badInput("userId", "Use leaveConversation to leave");
  await writeTransaction(ctx, async (tx, emit) => {
    const lastSeq = await lockConversation(tx, conversationId, "UPDATE");
    const target = await tx.membership.findUnique({
      where: { conversationId_userId: { conversationId, userId: user.id } },
      select: { role: true, leftAt: true },
    });
    if (!target || target.leftAt) throw notFound("Member");
    if (me.role === "ADMIN" && target.role !== "MEMBER") throw forbidden("An admin can remove members only");
    await tx.membership.update({
      where: { conversationId_userId: { conversationId, userId: user.id } },
      data: departed(lastSeq),
    });
    emit({ type: "member.removed", conversationId, userId: user.id, payload: { by: viewerId } });
  });
}

export async function leaveConversation(ctx: Context, viewerId: string, conversationId: string) {
  const me = await requireMembership(ctx, conversationId, viewerId);
  await writeTransaction(ctx, async (tx, emit) => {
    const lastSeq = await lockConversation(tx, conversationId, "UPDATE");
    await tx.membership.update({
      where: { conversationId_userId: { conversationId, userId: viewerId } },
      data: departed(lastSeq),
    });
    emit({ type: "member.left", conversationId, userId: viewerId, payload: {} });
    if (me.role !== "OWNER") return;
    // A group keeps an owner while it has members: the longest-standing admin, else member.
    const heirs = await tx.membership.findMany({
      where: { conversationId, leftAt: null },
      orderBy: [{ joinedAt: "asc" }, { id: "asc" }],
      select: { userId: true, role: true },
    });
    const heir = heirs.find((m) => m.role === "ADMIN") ?? heirs[0];
    if (!heir) return;
    await tx.membership.update({
      where: { conversationId_userId: { conversationId, userId: heir.userId } },
      data: { role: "OWNER" },
    });
    emit({ type: "member.role_changed", conversationId, userId: heir.userId, payload: { role: "OWNER" } });
  });
}

export async function setMemberRole(
  ctx: Context,
  viewerId: string,
  conversationId: string,
  userRef: string,
  role: MemberRole,
) {
  await requireGroupRole(ctx, conversationId, viewerId, ["OWNER"]);
  const user = await requireUserRef(ctx, userRef, "userId");
  if (user.id === viewerId) throw badInput("userId", "Pass ownership to another member instead");
  await writeTransaction(ctx, async (tx, emit) => {
    await lockConversation(tx, conversationId, "UPDATE");
    const target = await tx.membership.findUnique({
      where: { conversationId_userId: { conversationId, userId: user.id } },
      select: { leftAt: true },
    });
    if (!target || target.leftAt) throw notFound("Member");
    await tx.membership.update({
      where: { conversationId_userId: { conversationId, userId: user.id } },
      data: { role },
    });
    emit({ type: "member.role_changed", conversationId, userId: user.id, payload: { role } });
    if (role === "OWNER") {
      // One owner per group: handing it over makes the previous owner an admin.
      await tx.membership.update({
        where: { conversationId_userId: { conversationId, userId: viewerId } },
        data: { role: "ADMIN" },
      });
      emit({ type: "member.role_changed", conversationId, userId: viewerId, payload: { role: "ADMIN" } });
    }
  });
}
