// Groups and their members. Every role check runs inside the transaction, after the conversation
// row lock (lockMembership), and every membership change takes that same lock: so a removed or
// demoted admin cannot act on a role they have just lost, and a group always has exactly one OWNER.
import { type Actor, requireUser } from "../../core/actor.ts";
import { badInput, forbidden, notFound } from "../../core/errors.ts";
import { capList, cleanText } from "../../core/input.ts";
import type { Services } from "../../core/services.ts";
import { writeTransaction } from "../../events/writer.ts";
import type { MemberRole, Prisma } from "../../generated/prisma/client.ts";
import { requireUserRef, requireUserRefs } from "../users/users.ts";
import { lockMembership } from "./visibility.ts";

/**
 * A departing member's row: nothing left unread, and the pointer at the end, so the counter and the
 * pointer still agree if the member comes back (re-added, or a direct conversation revived).
 */
const departed = (lastSeq: number) => ({ leftAt: new Date(), unreadCount: 0, lastReadSeq: lastSeq });

/** BAD_USER_INPUT on `memberIds` when a group would grow past MAX_GROUP_MEMBERS. */
const groupFull = (max: number, active?: number) =>
  badInput(
    "memberIds",
    `A group may have at most ${max} members${active === undefined ? "" : ` (it has ${active})`}`,
  );

/** `createGroup`: the viewer becomes OWNER; members are named by id or username. Returns its id. */
export async function createGroup(
  services: Services,
  actor: Actor,
  input: { title: string; memberIds: readonly string[] },
): Promise<string> {
  const ownerId = requireUser(actor).id;
  const title = cleanText(input.title, "title", 200);
  const { groupMembersPerCall, groupMembers } = services.config.caps;
  capList(input.memberIds, "memberIds", groupMembersPerCall, "; add more with addMembers");
  const users = await requireUserRefs(services, input.memberIds, "memberIds");
  const others = users.filter((u) => u.id !== ownerId);
  if (others.length + 1 > groupMembers) throw groupFull(groupMembers);
  return writeTransaction(services, async (tx, emit) => {
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

type GroupInput = { conversationId: string };

/** `addMembers` (OWNER or ADMIN): new members start with everything before they joined read. */
export async function addMembers(
  services: Services,
  actor: Actor,
  input: GroupInput & { memberIds: readonly string[] },
): Promise<void> {
  const viewerId = requireUser(actor).id;
  const { conversationId } = input;
  const { groupMembersPerCall, groupMembers } = services.config.caps;
  capList(input.memberIds, "memberIds", groupMembersPerCall, "; add more in further calls");
  await writeTransaction(services, async (tx, emit) => {
    // The role first, under the lock: an outsider learns nothing from the users it names.
    const { lastSeq } = await lockMembership(tx, conversationId, viewerId, { roles: ["OWNER", "ADMIN"] });
    const users = await requireUserRefs({ prisma: tx }, input.memberIds, "memberIds");
    const existing = await tx.membership.findMany({
      where: { conversationId, userId: { in: users.map((u) => u.id) } },
      select: { userId: true, leftAt: true },
    });
    // Counted under the conversation lock, which every membership change takes: two concurrent
    // calls cannot both fit into the last free places.
    const joining = users.filter((u) => !existing.some((m) => m.userId === u.id && !m.leftAt)).length;
    if (joining > 0) {
      const active = await tx.membership.count({ where: { conversationId, leftAt: null } });
      if (active + joining > groupMembers) throw groupFull(groupMembers, active);
    }
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

/** `removeMember`: the OWNER removes anyone, an ADMIN removes members. */
export async function removeMember(
  services: Services,
  actor: Actor,
  input: GroupInput & { userId: string },
): Promise<void> {
  const viewerId = requireUser(actor).id;
  const { conversationId } = input;
  await writeTransaction(services, async (tx, emit) => {
    const me = await lockMembership(tx, conversationId, viewerId, { roles: ["OWNER", "ADMIN"] });
    const user = await requireUserRef({ prisma: tx }, input.userId, "userId");
    if (user.id === viewerId) throw badInput("userId", "Use leaveConversation to leave");
    const target = await activeMember(tx, conversationId, user.id);
    if (me.role === "ADMIN" && target.role !== "MEMBER") throw forbidden("An admin can remove members only");
    await tx.membership.update({
      where: { conversationId_userId: { conversationId, userId: user.id } },
      data: departed(me.lastSeq),
    });
    emit({ type: "member.removed", conversationId, userId: user.id, payload: { by: viewerId } });
  });
}

/** `leaveConversation`: a leaving OWNER hands the group to the longest-standing admin, else member. */
export async function leaveConversation(services: Services, actor: Actor, input: GroupInput): Promise<void> {
  const viewerId = requireUser(actor).id;
  const { conversationId } = input;
  await writeTransaction(services, async (tx, emit) => {
    const me = await lockMembership(tx, conversationId, viewerId);
    await tx.membership.update({
      where: { conversationId_userId: { conversationId, userId: viewerId } },
      data: departed(me.lastSeq),
    });
    emit({ type: "member.left", conversationId, userId: viewerId, payload: {} });
    if (me.role !== "OWNER") return;
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

/** `setMemberRole` (OWNER only): making someone OWNER hands ownership over (the old owner turns ADMIN). */
export async function setMemberRole(
  services: Services,
  actor: Actor,
  input: GroupInput & { userId: string; role: MemberRole },
): Promise<void> {
  const viewerId = requireUser(actor).id;
  const { conversationId, role } = input;
  await writeTransaction(services, async (tx, emit) => {
    // Under the lock the viewer is still the OWNER: of two parallel hand-overs the second finds
    // itself an ADMIN and is refused, so the group never has two owners or none.
    await lockMembership(tx, conversationId, viewerId, { roles: ["OWNER"] });
    const user = await requireUserRef({ prisma: tx }, input.userId, "userId");
    if (user.id === viewerId) throw badInput("userId", "Pass ownership to another member instead");
    await activeMember(tx, conversationId, user.id);
    await tx.membership.update({
      where: { conversationId_userId: { conversationId, userId: user.id } },
      data: { role },
    });
    emit({ type: "member.role_changed", conversationId, userId: user.id, payload: { role } });
    if (role === "OWNER") {
      await tx.membership.update({
        where: { conversationId_userId: { conversationId, userId: viewerId } },
        data: { role: "ADMIN" },
      });
      emit({ type: "member.role_changed", conversationId, userId: viewerId, payload: { role: "ADMIN" } });
    }
  });
}

async function activeMember(tx: Prisma.TransactionClient, conversationId: string, userId: string) {
  const target = await tx.membership.findUnique({
    where: { conversationId_userId: { conversationId, userId } },
    select: { role: true, leftAt: true },
  });
  if (!target || target.leftAt) throw notFound("Member");
  return target;
}
