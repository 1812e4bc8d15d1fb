import { notFound } from "../../core/errors.ts";
import { isUuid } from "../../core/input.ts";
import type { LogEvent } from "../../events/log.ts";
import { builder, pageLimits } from "../../schema/builder.ts";
import { type Context, requireViewer } from "../../schema/context.ts";
import { withValidCursor } from "../../schema/cursor.ts";
import { cursorOf } from "../../schema/events.ts";
import { sharedFields } from "../../schema/shared-execution.ts";
import { requireUserRef } from "../users/users.ts";
import { eventRows } from "./event-rows.ts";
import { deleteMessage, editMessage, replyToMessage, sendMessage } from "./messages.ts";
import { NIL_UUID, visibleConversation, visibleEventStream, visibleMessage } from "./visibility.ts";

export const MessageKind = builder.enumType("MessageKind", { values: ["TEXT", "SYSTEM"] as const });

export const MessageRevision = builder.prismaObject("MessageRevision", {
  description: "The content a message had before an edit.",
  extensions: sharedFields("id", "content", "createdAt"),
  fields: (t) => ({
    id: t.exposeID("id"),
    content: t.exposeString("content"),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When this content was replaced." }),
  }),
});

export const Message = builder.prismaObject("Message", {
  // The visibility rule on every path that yields a message (a relation, a replay, an event).
  authScopes: (m, ctx) => ctx.visibility.canSee(m.conversationId),
  // Not clientMessageId: only the sender sees it.
  extensions: sharedFields(
    "id",
    "conversation",
    "seq",
    "sender",
    "kind",
    "content",
    "parent",
    "replyCount",
    "lastReplyAt",
    "createdAt",
    "editedAt",
    "deletedAt",
    "isDeleted",
    "revisions",
  ),
  fields: (t) => ({
    id: t.exposeID("id"),
    conversation: t.relation("conversation"),
    seq: t.exposeInt("seq", { description: "Position in the conversation: 1, 2, 3 ... without gaps." }),
    sender: t.relation("sender", { nullable: true, description: "Null for system messages." }),
    kind: t.expose("kind", { type: MessageKind }),
    content: t.exposeString("content", { nullable: true, description: "Null once the message is deleted." }),
    parent: t.relation("parent", { nullable: true, description: "The thread's first message, for replies." }),
    replyCount: t.exposeInt("replyCount"),
    lastReplyAt: t.expose("lastReplyAt", { type: "DateTime", nullable: true }),
    clientMessageId: t.string({
      nullable: true,
      description: "The sender's idempotency key; only the sender sees it.",
      resolve: (m, _args, ctx) => (m.senderId === ctx.viewer?.id ? m.clientMessageId : null),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    editedAt: t.expose("editedAt", { type: "DateTime", nullable: true }),
    deletedAt: t.expose("deletedAt", { type: "DateTime", nullable: true }),
    isDeleted: t.boolean({ resolve: (m) => m.deletedAt !== null }),
    revisions: t.relation("revisions", {
      description: "Earlier contents, oldest first; empty once deleted.",
      query: { orderBy: [{ createdAt: "asc" }, { id: "asc" }] },
    }),
  }),
});

/**
 * The row a write already returned, when the client selected only its own columns; otherwise one
 * query with the selection (relations included). Saves a round trip on the hottest mutation.
 */
function rowOrQuery<T>(
  query: { include?: object; select?: object },
  row: T,
  load: () => Promise<T>,
): Promise<T> | T {
  const needsQuery =
    query.select !== undefined || (query.include !== undefined && Object.keys(query.include).length > 0);
  return needsQuery ? load() : row;
}

/** One connection type for every list of messages (chat, conversation history, thread). */
const MessageConnection = builder.connectionObject(
  { type: Message, name: "MessageConnection" },
  { name: "MessageEdge" },
);

/** Messages of a connection: newest first, so `first` pages back in time and `last` forward. */
const newestFirst = [{ seq: "desc" }] as const;

/** The viewer's direct conversation with a user (NOT_FOUND for an unknown user), once per request. */
function directConversation(ctx: Context, withRef: string) {
  const viewer = requireViewer(ctx);
  return ctx.memo(`direct:${withRef}`, async () => {
    const other = await requireUserRef(ctx, withRef, "with");
    const conversation = await ctx.prisma.conversation.findFirst({
      where: { directKey: [viewer.id, other.id].sort().join(":"), ...visibleConversation(ctx.actor) },
      select: { id: true, messageCount: true },
    });
    if (conversation) ctx.visibility.prime(conversation.id, true);
    return conversation;
  });
}

builder.prismaObjectFields("Conversation", (t) => ({
  messages: t.prismaConnection(
    {
      type: "Message",
      cursor: "id",
      ...pageLimits,
      description: "Top-level messages, newest first (replies are under `Message.replies`).",
      resolve: (query, conversation, args, ctx) =>
        ctx.prisma.message.findMany({
          ...withValidCursor(query, args),
          where: { conversationId: conversation.id, parentId: null },
          orderBy: [...newestFirst],
        }),
      totalCount: (conversation) => conversation.messageCount,
    },
    MessageConnection,
  ),
}));

builder.prismaObjectFields("Message", (t) => ({
  replies: t.prismaConnection(
    {
      type: "Message",
      cursor: "id",
      ...pageLimits,
      description: "The thread under this message, newest first.",
      resolve: (query, message, args, ctx) =>
        ctx.prisma.message.findMany({
          ...withValidCursor(query, args),
          where: { parentId: message.id },
          orderBy: [...newestFirst],
        }),
      totalCount: (message) => message.replyCount,
    },
    MessageConnection,
  ),
}));

builder.queryFields((t) => ({
  chat: t.prismaConnection(
    {
      type: "Message",
      cursor: "id",
      ...pageLimits,
      description:
        "The direct conversation with one user (id or username): top-level messages, newest first.",
      authScopes: { viewer: true },
      args: { with: t.arg.string() },
      resolve: async (query, _root, args, ctx) => {
        const conversation = await directConversation(ctx, args.with);
        // No conversation yet: still run the (empty) query, so the page has its usual shape.
        return ctx.prisma.message.findMany({
          ...withValidCursor(query, args),
          where: { conversationId: conversation?.id ?? NIL_UUID, parentId: null },
          orderBy: [...newestFirst],
        });
      },
      totalCount: async (_root, args, ctx) => (await directConversation(ctx, args.with))?.messageCount ?? 0,
    },
    MessageConnection,
  ),
  message: t.prismaField({
    type: "Message",
    nullable: true,
    description: "A message in one of the viewer's conversations; NOT_FOUND otherwise.",
    authScopes: { viewer: true },
    args: { id: t.arg.id() },
    resolve: async (query, _root, args, ctx) => {
      const id = String(args.id);
      const message = isUuid(id)
        ? await ctx.prisma.message.findFirst({ ...query, where: { id, ...visibleMessage(ctx.actor) } })
        : null;
      if (!message) throw notFound("Message");
      ctx.visibility.prime(message.conversationId, true);
      return message;
    },
  }),
}));

builder.mutationFields((t) => ({
  sendMessage: t.prismaField({
    type: "Message",
    description:
      "Sends to a user (`to`: id or username; opens the direct conversation on first use) or into a conversation (`conversationId`). A repeated `clientMessageId` returns the first message; aimed elsewhere it is a CONFLICT.",
    authScopes: { viewer: true },
    args: {
      to: t.arg.string({ required: false }),
      conversationId: t.arg.id({ required: false }),
      content: t.arg.string(),
      clientMessageId: t.arg.string({ required: false }),
    },
    resolve: async (query, _root, args, ctx) => {
      const message = await sendMessage(ctx, ctx.actor, {
        ...args,
        conversationId: args.conversationId == null ? null : String(args.conversationId),
      });
      return rowOrQuery(query, message, () =>
        ctx.prisma.message.findUniqueOrThrow({ ...query, where: { id: message.id } }),
      );
    },
  }),
  replyToMessage: t.prismaField({
    type: "Message",
    description: "Replies in a message's thread (a reply to a reply joins the same thread).",
    authScopes: { viewer: true },
    args: {
      parentId: t.arg.id(),
      content: t.arg.string(),
      clientMessageId: t.arg.string({ required: false }),
    },
    resolve: async (query, _root, args, ctx) => {
      const message = await replyToMessage(ctx, ctx.actor, { ...args, parentId: String(args.parentId) });
      return rowOrQuery(query, message, () =>
        ctx.prisma.message.findUniqueOrThrow({ ...query, where: { id: message.id } }),
      );
    },
  }),
  editMessage: t.prismaField({
    type: "Message",
    description: "Changes a message's content (author only); the earlier content stays in `revisions`.",
    authScopes: { viewer: true },
    args: { id: t.arg.id(), content: t.arg.string() },
    resolve: async (query, _root, args, ctx) => {
      const id = await editMessage(ctx, ctx.actor, { id: String(args.id), content: args.content });
      return ctx.prisma.message.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  deleteMessage: t.prismaField({
    type: "Message",
    description: "Deletes a message (author, or group OWNER/ADMIN): a tombstone keeps its place.",
    authScopes: { viewer: true },
    args: { id: t.arg.id() },
    resolve: async (query, _root, args, ctx) => {
      const id = await deleteMessage(ctx, ctx.actor, { id: String(args.id) });
      return ctx.prisma.message.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
}));

const MessageEventKind = builder.enumType("MessageEventKind", {
  values: ["CREATED", "EDITED", "DELETED", "REPLIED"] as const,
});

const KIND_OF = {
  "message.created": "CREATED",
  "message.edited": "EDITED",
  "message.deleted": "DELETED",
  "message.replied": "REPLIED",
} as const;

type MessageEventShape = {
  kind: (typeof KIND_OF)[keyof typeof KIND_OF];
  messageId: string;
  conversationId: string;
  seq: number;
  cursor: string;
};

const MessageEvent = builder.objectRef<MessageEventShape>("MessageEvent").implement({
  description: "A message was created, edited, deleted, or replied in a thread (the reply is `message`).",
  extensions: sharedFields("kind", "message", "conversationId", "seq", "cursor"),
  fields: (t) => ({
    kind: t.field({ type: MessageEventKind, resolve: (e) => e.kind }),
    message: t.prismaField({
      type: "Message",
      description: "The message as it is now, resolved like in a query.",
      // Loaded with every other subscription's events of this read of the log: one query per batch.
      resolve: (query, e, _args, ctx) => eventRows(ctx.prisma).message(query, e.messageId),
    }),
    conversationId: t.exposeID("conversationId"),
    seq: t.exposeInt("seq", {
      description: "The message's seq: per conversation, events arrive in seq order.",
    }),
    cursor: t.exposeString("cursor", { description: "Resume point: pass as `after` after a reconnect." }),
  }),
});

builder.subscriptionFields((t) => ({
  messageEvents: t.field({
    type: MessageEvent,
    description:
      "Messages created, edited, deleted and replied in the viewer's conversations (or one). With `after`, replays what came after that cursor first: no gap, no repeat.",
    authScopes: { viewer: true },
    args: { conversationId: t.arg.id({ required: false }), after: t.arg.string({ required: false }) },
    subscribe: (_root, args, ctx) =>
      visibleEventStream(ctx, ctx.actor, {
        types: Object.keys(KIND_OF) as (keyof typeof KIND_OF)[],
        conversationId: args.conversationId == null ? null : String(args.conversationId),
        after: args.after,
        onVisible: (id) => ctx.visibility.prime(id, true),
      }),
    resolve: (e: LogEvent): MessageEventShape => ({
      kind: KIND_OF[e.type as keyof typeof KIND_OF],
      messageId: e.messageId ?? "",
      conversationId: e.conversationId ?? "",
      seq: e.seq ?? 0,
      cursor: cursorOf(e),
    }),
  }),
}));
