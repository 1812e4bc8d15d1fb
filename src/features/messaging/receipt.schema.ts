import { Repeater } from "graphql-yoga";
import type { EventType, LogEvent } from "../../events/log.ts";
import { builder } from "../../schema/builder.ts";
import { type Context, requireViewer } from "../../schema/context.ts";
import { cursorOf } from "../../schema/events.ts";
import { sharedFields } from "../../schema/shared-execution.ts";
import { markRead } from "./receipts.ts";
import { visibleConversation, visibleEventStream } from "./visibility.ts";

builder.queryFields((t) => ({
  unread: t.int({
    description: "Unread messages across the viewer's conversations (a sum of per-member counters).",
    authScopes: { viewer: true },
    resolve: async (_root, _args, ctx) => {
      const { _sum } = await ctx.prisma.membership.aggregate({
        where: { userId: requireViewer(ctx).id, leftAt: null },
        _sum: { unreadCount: true },
      });
      return _sum.unreadCount ?? 0;
    },
  }),
}));

builder.mutationFields((t) => ({
  markRead: t.prismaField({
    type: "Conversation",
    description:
      "Moves the viewer's read pointer forward to a message (not one's own) or to the latest; never back.",
    authScopes: { viewer: true },
    args: { messageId: t.arg.id({ required: false }), conversationId: t.arg.id({ required: false }) },
    resolve: async (query, _root, args, ctx) => {
      const id = await markRead(ctx, ctx.actor, {
        messageId: args.messageId == null ? null : String(args.messageId),
        conversationId: args.conversationId == null ? null : String(args.conversationId),
      });
      return ctx.prisma.conversation.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
}));

type ReceiptEventShape = {
  conversationId: string;
  userId: string;
  seq: number;
  readAt: Date;
  cursor: string;
};

const ReceiptEvent = builder.objectRef<ReceiptEventShape>("ReceiptEvent").implement({
  description: "A member's read pointer moved forward.",
  extensions: sharedFields("conversation", "user", "message", "seq", "readAt", "cursor"),
  fields: (t) => ({
    conversation: t.prismaField({
      type: "Conversation",
      resolve: (query, e, _args, ctx) =>
        ctx.prisma.conversation.findUniqueOrThrow({ ...query, where: { id: e.conversationId } }),
    }),
    user: t.prismaField({
      type: "User",
      description: "Who read.",
      resolve: (query, e, _args, ctx) =>
        ctx.prisma.user.findUniqueOrThrow({ ...query, where: { id: e.userId } }),
    }),
    message: t.prismaField({
      type: "Message",
      nullable: true,
      description: "The message read up to (everything up to its seq is read).",
      resolve: (query, e, _args, ctx) =>
        ctx.prisma.message.findUnique({
          ...query,
          where: { conversationId_seq: { conversationId: e.conversationId, seq: e.seq } },
        }),
    }),
    seq: t.exposeInt("seq", { description: "The new read pointer." }),
    readAt: t.expose("readAt", { type: "DateTime" }),
    cursor: t.exposeString("cursor"),
  }),
});

type UnreadEventShape = {
  total: number;
  conversationId: string;
  conversationUnread: number;
  version: number;
};

const UnreadEvent = builder.objectRef<UnreadEventShape>("UnreadEvent").implement({
  description: "The viewer's unread counts changed.",
  fields: (t) => ({
    total: t.exposeInt("total", { description: "Unread across all the viewer's conversations." }),
    conversationId: t.exposeID("conversationId", { description: "The conversation whose count changed." }),
    conversation: t.prismaField({
      type: "Conversation",
      nullable: true,
      description:
        "The conversation whose count changed; null when the change is that the viewer left or was removed.",
      resolve: (query, e, _args, ctx) =>
        ctx.prisma.conversation.findFirst({
          ...query,
          where: { id: e.conversationId, ...visibleConversation(ctx.actor) },
        }),
    }),
    conversationUnread: t.exposeInt("conversationUnread"),
    version: t.exposeFloat("version", {
      description:
        "Grows with every change (a log transaction id): drop an event older than one already applied.",
    }),
  }),
});

/** Events that can move the viewer's unread counts. */
const UNREAD_TYPES: EventType[] = [
  "message.created",
  "message.replied",
  "message.deleted",
  "receipt.updated",
  "member.added",
  "member.removed",
  "member.left",
];

/** The viewer's unread count per active conversation, and their sum. */
async function unreadCounts(ctx: Context, viewerId: string) {
  const rows = await ctx.prisma.membership.findMany({
    where: { userId: viewerId, leftAt: null },
    select: { conversationId: true, unreadCount: true },
  });
  return {
    byConversation: new Map(rows.map((r) => [r.conversationId, r.unreadCount])),
    total: rows.reduce((sum, r) => sum + r.unreadCount, 0),
  };
}

/**
 * Recounts after each event that may change the viewer's counts and emits only real changes
 * (compared with the counts at subscribe time, then with the last emitted ones). A Repeater
 * rather than an async generator: a generator's return() would wait for the pending read of the
 * inner stream, so a client that leaves would keep its listener until its next event.
 */
async function unreadChanges(ctx: Context): Promise<AsyncIterable<UnreadEventShape>> {
  const viewerId = requireViewer(ctx).id;
  const { byConversation: last, total: initialTotal } = await unreadCounts(ctx, viewerId);
  let lastTotal = initialTotal;
  const events = (await visibleEventStream(ctx, ctx.actor, { types: UNREAD_TYPES }))[Symbol.asyncIterator]();
  return new Repeater<UnreadEventShape>(async (push, stop) => {
    void stop.then(() => events.return?.());
    for (;;) {
      const next = await Promise.race([events.next(), stop.then(() => ({ done: true, value: undefined }))]);
      if (next.done || next.value === undefined) break;
      const e = next.value;
      const conversationId = e.conversationId;
      if (!conversationId || (e.type === "receipt.updated" && e.userId !== viewerId)) continue;
      const now = await unreadCounts(ctx, viewerId);
      const conversationUnread = now.byConversation.get(conversationId) ?? 0;
      if ((last.get(conversationId) ?? 0) === conversationUnread && now.total === lastTotal) continue;
      last.set(conversationId, conversationUnread);
      lastTotal = now.total;
      await push({ total: now.total, conversationId, conversationUnread, version: Number(e.txid) });
    }
    stop();
  });
}

builder.subscriptionFields((t) => ({
  receiptEvents: t.field({
    type: ReceiptEvent,
    description:
      "Read pointers moving in the viewer's conversations (or one); `after` resumes as for messageEvents.",
    authScopes: { viewer: true },
    args: { conversationId: t.arg.id({ required: false }), after: t.arg.string({ required: false }) },
    subscribe: (_root, args, ctx) =>
      visibleEventStream(ctx, ctx.actor, {
        types: ["receipt.updated"],
        conversationId: args.conversationId == null ? null : String(args.conversationId),
        after: args.after,
        onVisible: (id) => ctx.visibility.prime(id, true),
      }),
    resolve: (e: LogEvent): ReceiptEventShape => ({
      conversationId: e.conversationId ?? "",
      userId: e.userId ?? "",
      seq: e.seq ?? 0,
      readAt: e.createdAt,
      cursor: cursorOf(e),
    }),
  }),
  unreadEvents: t.field({
    type: UnreadEvent,
    description: "The viewer's unread counts, whenever they change.",
    authScopes: { viewer: true },
    subscribe: async (_root, _args, ctx) => unreadChanges(ctx),
    resolve: (e: UnreadEventShape) => e,
  }),
}));
