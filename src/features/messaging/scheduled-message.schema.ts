import { builder, pageLimits } from "../../schema/builder.ts";
import { requireViewer } from "../../schema/context.ts";
import { withValidCursor } from "../../schema/cursor.ts";
import { cancelScheduled, scheduleMessage } from "./scheduled-messages.ts";
import { visibleConversation, visibleMessage } from "./visibility.ts";

export const ScheduleState = builder.enumType("ScheduleState", {
  values: ["PENDING", "FIRED", "CANCELLED", "FAILED"] as const,
});

export const ScheduledMessage = builder.prismaObject("ScheduledMessage", {
  description: "A message the viewer scheduled; sent at scheduledAt through the same checks as sendMessage.",
  fields: (t) => ({
    id: t.exposeID("id"),
    scheduledAt: t.expose("scheduledAt", { type: "DateTime" }),
    state: t.expose("state", { type: ScheduleState }),
    content: t.exposeString("content"),
    clientMessageId: t.exposeString("clientMessageId", { nullable: true }),
    lastError: t.exposeString("lastError", { nullable: true, description: "Why it FAILED when it fired." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    to: t.prismaField({
      type: "User",
      nullable: true,
      description: "The addressee of a direct message.",
      resolve: (query, row, _args, ctx) =>
        row.to ? ctx.prisma.user.findUnique({ ...query, where: { id: row.to } }) : null,
    }),
    conversation: t.prismaField({
      type: "Conversation",
      nullable: true,
      description: "The conversation (for a direct message: once sent), if the viewer is still in it.",
      resolve: (query, row, _args, ctx) =>
        row.conversationId
          ? ctx.prisma.conversation.findFirst({
              ...query,
              where: { id: row.conversationId, ...visibleConversation(ctx.actor) },
            })
          : null,
    }),
    message: t.prismaField({
      type: "Message",
      nullable: true,
      description: "The message once sent, if the viewer is still in its conversation.",
      resolve: (query, row, _args, ctx) =>
        row.messageId
          ? ctx.prisma.message.findFirst({
              ...query,
              where: { id: row.messageId, ...visibleMessage(ctx.actor) },
            })
          : null,
    }),
  }),
});

builder.queryFields((t) => ({
  scheduledMessages: t.prismaConnection(
    {
      type: "ScheduledMessage",
      cursor: "id",
      ...pageLimits,
      description: "The viewer's scheduled messages, newest first (every state).",
      authScopes: { viewer: true },
      resolve: (query, _root, args, ctx) =>
        ctx.prisma.scheduledMessage.findMany({
          ...withValidCursor(query, args),
          where: { senderId: requireViewer(ctx).id },
          orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        }),
      totalCount: (_root, _args, ctx) =>
        ctx.prisma.scheduledMessage.count({ where: { senderId: requireViewer(ctx).id } }),
    },
    { name: "ScheduledMessageConnection" },
    { name: "ScheduledMessageEdge" },
  ),
}));

builder.mutationFields((t) => ({
  scheduleMessage: t.prismaField({
    type: "ScheduledMessage",
    description:
      "Sends a message later (to a user, or into a conversation). Checked now and again when it fires; " +
      "scheduledAt must be in the future and within a year.",
    authScopes: { viewer: true },
    args: {
      to: t.arg.string({ required: false }),
      conversationId: t.arg.id({ required: false }),
      content: t.arg.string(),
      clientMessageId: t.arg.string({ required: false }),
      scheduledAt: t.arg({ type: "DateTime" }),
    },
    resolve: async (query, _root, args, ctx) => {
      const row = await scheduleMessage(ctx, ctx.actor, {
        ...args,
        conversationId: args.conversationId == null ? null : String(args.conversationId),
      });
      return ctx.prisma.scheduledMessage.findUniqueOrThrow({ ...query, where: { id: row.id } });
    },
  }),
  cancelScheduled: t.boolean({
    description:
      "Cancels what has not fired yet: the viewer's scheduled message, or (API key / ADMIN) a scheduled " +
      "notification or broadcast. Fired already: CONFLICT; unknown or not yours: NOT_FOUND.",
    authScopes: { viewer: true, system: true },
    args: { id: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      await cancelScheduled(ctx, ctx.actor, { id: String(args.id) });
      return true;
    },
  }),
}));
