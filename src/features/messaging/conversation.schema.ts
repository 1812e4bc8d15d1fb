import { notFound } from "../../core/errors.ts";
import { isUuid } from "../../core/input.ts";
import { builder, pageLimits } from "../../schema/builder.ts";
import { requireViewer } from "../../schema/context.ts";
import { withValidCursor } from "../../schema/cursor.ts";
import { sharedFields } from "../../schema/shared-execution.ts";
import { addMembers, createGroup, leaveConversation, removeMember, setMemberRole } from "./groups.ts";
import { NIL_UUID, visibleConversation } from "./visibility.ts";

export const ConversationKind = builder.enumType("ConversationKind", {
  values: ["DIRECT", "GROUP"] as const,
});
export const MemberRole = builder.enumType("MemberRole", { values: ["OWNER", "ADMIN", "MEMBER"] as const });

/**
 * A member of a conversation. `id`, `username` and `displayName` are the user's own, so a member
 * reads like a user (`members { id username }`), with the membership's role and read pointer beside.
 * Like Conversation and Message, it is shown only to those who may see its conversation, whatever
 * field led to it (the visibility rule, checked per object and batched).
 */
export const Member = builder.prismaObject("Membership", {
  name: "Member",
  authScopes: (m, ctx) => ctx.visibility.canSee(m.conversationId),
  extensions: sharedFields(
    "id",
    "user",
    "username",
    "displayName",
    "role",
    "joinedAt",
    "lastReadSeq",
    "lastReadAt",
  ),
  fields: (t) => ({
    id: t.exposeID("userId", { description: "The member's user id." }),
    user: t.relation("user"),
    username: t.string({ select: { user: { select: { username: true } } }, resolve: (m) => m.user.username }),
    displayName: t.string({
      select: { user: { select: { displayName: true } } },
      resolve: (m) => m.user.displayName,
    }),
    role: t.expose("role", { type: MemberRole }),
    joinedAt: t.expose("joinedAt", { type: "DateTime" }),
    lastReadSeq: t.exposeInt("lastReadSeq", { description: "Every message with seq up to this is read." }),
    lastReadAt: t.expose("lastReadAt", { type: "DateTime", nullable: true }),
  }),
});

const viewerMembership = (ctx: { viewer: { id: string } | null }) => ({
  memberships: {
    where: { userId: ctx.viewer?.id ?? NIL_UUID },
    select: { unreadCount: true, muted: true },
    take: 1,
  },
});

export const Conversation = builder.prismaObject("Conversation", {
  authScopes: (c, ctx) => ctx.visibility.canSee(c.id),
  // Not unreadCount: it is the viewer's.
  extensions: sharedFields(
    "id",
    "kind",
    "title",
    "lastSeq",
    "lastMessage",
    "lastActivityAt",
    "createdAt",
    "members",
  ),
  fields: (t) => ({
    id: t.exposeID("id"),
    kind: t.expose("kind", { type: ConversationKind }),
    title: t.exposeString("title", { nullable: true }),
    lastSeq: t.exposeInt("lastSeq", { description: "The seq of the newest message (replies included)." }),
    lastMessage: t.relation("lastMessage", { nullable: true, description: "The newest top-level message." }),
    lastActivityAt: t.expose("lastActivityAt", { type: "DateTime" }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    members: t.relation("memberships", {
      description:
        "Current members, in the order they joined: the first MAX_PAGE_SIZE (100 by default) only; `memberConnection` pages through all of them.",
      query: (_args, ctx) => ({
        where: { leftAt: null },
        orderBy: [{ joinedAt: "asc" }, { id: "asc" }],
        take: ctx.config.maxPageSize,
      }),
    }),
    unreadCount: t.int({
      description: "Messages by others the viewer has not read yet (kept as a counter).",
      select: (_args, ctx) => viewerMembership(ctx),
      resolve: (c) => c.memberships[0]?.unreadCount ?? 0,
    }),
  }),
});

builder.queryFields((t) => ({
  conversations: t.prismaConnection(
    {
      type: "Conversation",
      cursor: "id",
      ...pageLimits,
      description: "The viewer's conversations, most recently active first.",
      authScopes: { viewer: true },
      resolve: async (query, _root, args, ctx) => {
        const rows = await ctx.prisma.conversation.findMany({
          ...withValidCursor(query, args),
          where: visibleConversation(ctx.actor),
          orderBy: [{ lastActivityAt: "desc" }, { id: "desc" }],
        });
        // Found through the visibility rule: the type-level guard need not ask again.
        for (const row of rows) ctx.visibility.prime(row.id, true);
        return rows;
      },
      totalCount: (_root, _args, ctx) =>
        ctx.prisma.membership.count({ where: { userId: requireViewer(ctx).id, leftAt: null } }),
    },
    { name: "ConversationConnection" },
    { name: "ConversationEdge" },
  ),
  conversation: t.prismaField({
    type: "Conversation",
    nullable: true,
    description: "A conversation the viewer is a member of; NOT_FOUND otherwise.",
    authScopes: { viewer: true },
    args: { id: t.arg.id() },
    resolve: async (query, _root, args, ctx) => {
      const id = String(args.id);
      const conversation = isUuid(id)
        ? await ctx.prisma.conversation.findFirst({
            ...query,
            where: { id, ...visibleConversation(ctx.actor) },
          })
        : null;
      if (!conversation) throw notFound("Conversation");
      ctx.visibility.prime(conversation.id, true);
      return conversation;
    },
  }),
}));

builder.mutationFields((t) => ({
  createGroup: t.prismaField({
    type: "Conversation",
    description: "Creates a group with the viewer as OWNER; members are named by id or username.",
    authScopes: { viewer: true },
    args: { title: t.arg.string(), memberIds: t.arg.stringList() },
    resolve: async (query, _root, args, ctx) => {
      const id = await createGroup(ctx, ctx.actor, args);
      return ctx.prisma.conversation.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  addMembers: t.prismaField({
    type: "Conversation",
    description: "Adds users to a group (OWNER or ADMIN).",
    authScopes: { viewer: true },
    args: { conversationId: t.arg.id(), memberIds: t.arg.stringList() },
    resolve: async (query, _root, args, ctx) => {
      const id = String(args.conversationId);
      await addMembers(ctx, ctx.actor, { conversationId: id, memberIds: args.memberIds });
      return ctx.prisma.conversation.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  removeMember: t.prismaField({
    type: "Conversation",
    description: "Removes a member from a group (OWNER: anyone; ADMIN: members).",
    authScopes: { viewer: true },
    args: { conversationId: t.arg.id(), userId: t.arg.string() },
    resolve: async (query, _root, args, ctx) => {
      const id = String(args.conversationId);
      await removeMember(ctx, ctx.actor, { conversationId: id, userId: args.userId });
      return ctx.prisma.conversation.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  leaveConversation: t.boolean({
    description:
      "Leaves a conversation; a leaving OWNER hands the group to the longest-standing admin or member.",
    authScopes: { viewer: true },
    args: { conversationId: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      await leaveConversation(ctx, ctx.actor, { conversationId: String(args.conversationId) });
      return true;
    },
  }),
  setMemberRole: t.prismaField({
    type: "Conversation",
    description: "Sets a member's role (OWNER only); making someone OWNER hands ownership over.",
    authScopes: { viewer: true },
    args: { conversationId: t.arg.id(), userId: t.arg.string(), role: t.arg({ type: MemberRole }) },
    resolve: async (query, _root, args, ctx) => {
      const id = String(args.conversationId);
      await setMemberRole(ctx, ctx.actor, { conversationId: id, userId: args.userId, role: args.role });
      return ctx.prisma.conversation.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
}));
