import { Repeater } from "graphql-yoga";
import { badInput, notFound } from "../../core/errors.ts";
import { consume } from "../../core/limits.ts";
import type { EphemeralNotice } from "../../core/pubsub.ts";
import { type BuilderTypes, builder } from "../../schema/builder.ts";
import type { Context } from "../../schema/context.ts";
import { requireViewer } from "../../schema/context.ts";
import { requireMembership } from "./visibility.ts";

// Ephemeral signals: typing indicators and free-form live collaboration signals (cursor positions
// and the like). Members only, rate limited, never logged: they travel over pub/sub alone and a
// missed one is simply gone.

const MAX_SIGNAL_BYTES = 8_192;

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

/**
 * Ephemeral notices of one conversation from other members. Ends with NOT_FOUND when the viewer
 * leaves or is removed (followed through the event log, in order).
 */
async function ephemeralStream(ctx: Context, conversationId: string, kind: EphemeralNotice["kind"]) {
  const viewerId = requireViewer(ctx).id;
  await requireMembership(ctx.prisma, conversationId, viewerId);
  return new Repeater<EphemeralNotice>(async (push, stop) => {
    const membership = ctx.hub.listen((events) => {
      for (const e of events) {
        const gone = e.type === "member.removed" || e.type === "member.left";
        if (gone && e.userId === viewerId && e.conversationId === conversationId)
          stop(notFound("Conversation"));
      }
    });
    const unsubscribe = await ctx.pubsub
      .subscribe(`conversation:${conversationId}`, (notice) => {
        if (notice.kind === kind && notice.userId !== viewerId) push(notice).catch(stop);
      })
      .catch((error: unknown) => {
        stop(error);
        return () => {};
      });
    await stop;
    unsubscribe();
    membership.close();
  });
}

async function publishEphemeral(ctx: Context, notice: Omit<EphemeralNotice, "userId" | "at">) {
  const viewerId = requireViewer(ctx).id;
  await requireMembership(ctx.prisma, notice.conversationId, viewerId);
  await consume(notice.kind === "typing" ? ctx.limits.typing : ctx.limits.signal, viewerId);
  const full: EphemeralNotice = { ...notice, userId: viewerId, at: new Date().toISOString() };
  // Best effort by design: an unavailable pub/sub loses the signal, never fails the caller.
  await ctx.pubsub.publish(`conversation:${notice.conversationId}`, full).catch(() => {});
  return true;
}

builder.mutationFields((t) => ({
  setTyping: t.boolean({
    description: "Tells the other members you are typing (or stopped). Not stored; rate limited.",
    authScopes: { viewer: true },
    args: { conversationId: t.arg.id(), typing: t.arg.boolean() },
    resolve: (_root, args, ctx) =>
      publishEphemeral(ctx, {
        kind: "typing",
        conversationId: String(args.conversationId),
        typing: args.typing,
      }),
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
    resolve: (_root, args, ctx) => {
      const type = args.type.trim();
      if (type.length === 0 || type.length > 64) throw badInput("type", "type must be 1-64 characters");
      if (Buffer.byteLength(JSON.stringify(args.payload ?? null)) > MAX_SIGNAL_BYTES) {
        throw badInput("payload", `payload must be at most ${MAX_SIGNAL_BYTES} bytes of JSON`);
      }
      return publishEphemeral(ctx, {
        kind: "signal",
        conversationId: String(args.conversationId),
        type,
        payload: args.payload ?? null,
      });
    },
  }),
}));

builder.subscriptionFields((t) => ({
  typing: t.field({
    type: TypingEvent,
    description: "Typing indicators of the other members of a conversation.",
    authScopes: { viewer: true },
    args: { conversationId: t.arg.id() },
    subscribe: (_root, args, ctx) => ephemeralStream(ctx, String(args.conversationId), "typing"),
    resolve: (e: EphemeralNotice) => e,
  }),
  signals: t.field({
    type: SignalEvent,
    description: "Live collaboration signals of the other members of a conversation.",
    authScopes: { viewer: true },
    args: { conversationId: t.arg.id() },
    subscribe: (_root, args, ctx) => ephemeralStream(ctx, String(args.conversationId), "signal"),
    resolve: (e: EphemeralNotice) => e,
  }),
}));
