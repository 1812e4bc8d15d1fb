import type { EphemeralNotice } from "../../core/pubsub.ts";
import { type BuilderTypes, builder } from "../../schema/builder.ts";
import { ephemeralStream, sendSignal, setTyping } from "./typing.ts";

// Typing indicators and live collaboration signals (features/messaging/typing.ts).

/** Fields every ephemeral event has: where, who, when. */
const noticeFields = (t: PothosSchemaTypes.ObjectFieldBuilder<BuilderTypes, EphemeralNotice>) => ({
  conversation: t.prismaField({
    type: "Conversation",
    resolve: (query, e, _args, ctx) =>
      ctx.prisma.conversation.findUniqueOrThrow({ ...query, where: { id: e.conversationId } }),
  }),
  user: t.prismaField({
    type: "User",
    resolve: (query, e, _args, ctx) =>
      ctx.prisma.user.findUniqueOrThrow({ ...query, where: { id: e.userId } }),
  }),
  at: t.field({ type: "DateTime", resolve: (e) => new Date(e.at) }),
});

const TypingEvent = builder.objectRef<EphemeralNotice>("TypingEvent").implement({
  fields: (t) => ({
    ...noticeFields(t),
    typing: t.boolean({ resolve: (e) => e.typing ?? false }),
  }),
});

const SignalEvent = builder.objectRef<EphemeralNotice>("SignalEvent").implement({
  fields: (t) => ({
    ...noticeFields(t),
    type: t.string({ resolve: (e) => e.type ?? "" }),
    payload: t.field({ type: "JSON", nullable: true, resolve: (e) => e.payload ?? null }),
  }),
});

builder.mutationFields((t) => ({
  setTyping: t.boolean({
    description: "Tells the other members you are typing (or stopped). Not stored; rate limited.",
    authScopes: { viewer: true },
    args: { conversationId: t.arg.id(), typing: t.arg.boolean() },
    resolve: (_root, args, ctx) =>
      setTyping(ctx, ctx.actor, { conversationId: String(args.conversationId), typing: args.typing }),
  }),
  signal: t.boolean({
    description:
      "Sends a live collaboration signal (for example a cursor position) to the other members. Not stored; rate limited.",
    authScopes: { viewer: true },
    args: {
      conversationId: t.arg.id(),
      type: t.arg.string(),
      payload: t.arg({ type: "JSON", required: false }),
    },
    resolve: (_root, args, ctx) =>
      sendSignal(ctx, ctx.actor, { ...args, conversationId: String(args.conversationId) }),
  }),
}));

builder.subscriptionFields((t) => ({
  typing: t.field({
    type: TypingEvent,
    description: "Typing indicators of the other members of a conversation.",
    authScopes: { viewer: true },
    args: { conversationId: t.arg.id() },
    subscribe: (_root, args, ctx) =>
      ephemeralStream(ctx, ctx.actor, { conversationId: String(args.conversationId), kind: "typing" }),
    resolve: (e: EphemeralNotice) => e,
  }),
  signals: t.field({
    type: SignalEvent,
    description: "Live collaboration signals of the other members of a conversation.",
    authScopes: { viewer: true },
    args: { conversationId: t.arg.id() },
    subscribe: (_root, args, ctx) =>
      ephemeralStream(ctx, ctx.actor, { conversationId: String(args.conversationId), kind: "signal" }),
    resolve: (e: EphemeralNotice) => e,
  }),
}));
