import { resolveCursorConnection } from "@pothos/plugin-relay";
import { badInput, notFound } from "../../core/errors.ts";
import { isUuid } from "../../core/input.ts";
import type { BroadcastRecipient as BroadcastRecipientRow } from "../../generated/prisma/client.ts";
import { builder, pageLimits } from "../../schema/builder.ts";
import { withValidCursor } from "../../schema/cursor.ts";
import { broadcastCounts } from "../notifications/delivery/broadcast-progress.ts";
import { NotificationPriority } from "../notifications/notification.schema.ts";
import { createBroadcast } from "./broadcasts.ts";

export const DeliveryState = builder.enumType("DeliveryState", {
  values: ["QUEUED", "SENT", "FAILED", "RETRYING", "DEAD"] as const,
});
const BroadcastKind = builder.enumType("BroadcastKind", {
  values: ["ANNOUNCEMENT", "ALERT", "PROMOTION"] as const,
});
const BroadcastAudience = builder.enumType("BroadcastAudience", {
  values: ["USERS", "TOPIC", "EVERYONE"] as const,
});
const BroadcastStatus = builder.enumType("BroadcastStatus", {
  values: ["SCHEDULED", "QUEUED", "SENDING", "COMPLETED", "CANCELLED"] as const,
});

const BroadcastCounts = builder
  .objectRef<Awaited<ReturnType<typeof broadcastCounts>>>("BroadcastCounts")
  .implement({
    description: "Recipients per delivery state.",
    fields: (t) => ({
      queued: t.exposeInt("queued"),
      sent: t.exposeInt("sent"),
      failed: t.exposeInt("failed"),
      retrying: t.exposeInt("retrying"),
      dead: t.exposeInt("dead"),
      total: t.exposeInt("total"),
    }),
  });

const BroadcastRecipient = builder.prismaObject("BroadcastRecipient", {
  description: "One addressee of a broadcast and how its delivery went (beyond the app, if any).",
  fields: (t) => ({
    // Users and notifications are loaded one findUnique each; Prisma batches those of one tick.
    user: t.prismaField({
      type: "User",
      resolve: (query, r, _args, ctx) =>
        ctx.prisma.user.findUniqueOrThrow({ ...query, where: { id: r.userId } }),
    }),
    notification: t.prismaField({
      type: "Notification",
      nullable: true,
      resolve: (query, r, _args, ctx) =>
        r.notificationId
          ? ctx.prisma.notification.findUnique({ ...query, where: { id: r.notificationId } })
          : null,
    }),
    state: t.expose("state", { type: DeliveryState }),
    attempts: t.exposeInt("attempts", { description: "Attempts of its most tried delivery." }),
    lastError: t.exposeString("lastError", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

const RecipientConnection = builder.connectionObject(
  { type: BroadcastRecipient, name: "BroadcastRecipientConnection" },
  { name: "BroadcastRecipientEdge" },
);

export const Broadcast = builder.prismaObject("Broadcast", {
  fields: (t) => ({
    id: t.exposeID("id"),
    kind: t.expose("kind", { type: BroadcastKind }),
    priority: t.expose("priority", { type: NotificationPriority }),
    audience: t.expose("audience", { type: BroadcastAudience }),
    topicId: t.exposeID("topicId", { nullable: true, description: "The topic, for a TOPIC audience." }),
    status: t.expose("status", { type: BroadcastStatus }),
    template: t.exposeString("template", { nullable: true }),
    title: t.exposeString("title", { description: "Rendered once, when a template was given." }),
    body: t.exposeString("body"),
    actionUrl: t.exposeString("actionUrl", { nullable: true }),
    data: t.expose("data", { type: "JSON" }),
    scheduledAt: t.expose("scheduledAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    startedAt: t.expose("startedAt", { type: "DateTime", nullable: true }),
    completedAt: t.expose("completedAt", { type: "DateTime", nullable: true }),
    total: t.exposeInt("total", {
      description: "Recipients added so far (all of them once fan-out is done).",
    }),
    counts: t.field({
      type: BroadcastCounts,
      select: { id: true },
      resolve: (b, _args, ctx) => broadcastCounts(ctx.prisma, b.id),
    }),
    recipients: t.field({
      type: RecipientConnection,
      description: "Recipients in user id order, optionally only those in one state.",
      select: { id: true },
      args: {
        ...t.arg.connectionArgs(),
        state: t.arg({ type: DeliveryState, required: false }),
      },
      resolve: async (b, args, ctx) => {
        for (const field of ["after", "before"] as const) {
          const cursor = args[field];
          if (cursor != null && !isUuid(cursor)) {
            throw badInput(field, "Invalid cursor: pass a cursor this connection returned");
          }
        }
        const where = { broadcastId: b.id, ...(args.state ? { state: args.state } : {}) };
        const connection = await resolveCursorConnection<Promise<BroadcastRecipientRow[]>>(
          {
            args,
            defaultSize: pageLimits.defaultSize,
            maxSize: ctx.config.maxPageSize,
            toCursor: (r) => r.userId,
          },
          async ({ before, after, limit, inverted }): Promise<BroadcastRecipientRow[]> =>
            ctx.prisma.broadcastRecipient.findMany({
              where: {
                ...where,
                userId: { ...(after ? { gt: after } : {}), ...(before ? { lt: before } : {}) },
              },
              orderBy: { userId: inverted ? "desc" : "asc" },
              take: limit,
            }),
        );
        return { ...connection, totalCount: () => ctx.prisma.broadcastRecipient.count({ where }) };
      },
    }),
  }),
});

const BroadcastInput = builder.inputType("BroadcastInput", {
  description:
    "Exactly one audience (userIds, topic or everyone: true) and either a template (+ data) or a title and body.",
  fields: (t) => ({
    userIds: t.stringList({ required: false, description: "Users by id or username." }),
    topic: t.string({ required: false, description: "A topic's key or id: its subscribers." }),
    everyone: t.boolean({ required: false, description: "Every user when fan-out starts." }),
    template: t.string({ required: false, description: "A template key; rendered with data." }),
    data: t.field({
      type: "JSON",
      required: false,
      description: "Template variables; kept on each notification.",
    }),
    title: t.string({ required: false }),
    body: t.string({ required: false }),
    kind: t.field({ type: BroadcastKind, required: false, defaultValue: "ANNOUNCEMENT" }),
    priority: t.field({
      type: NotificationPriority,
      required: false,
      description: "Defaults to the template's priority, else NORMAL.",
    }),
    actionUrl: t.string({ required: false }),
    scheduledAt: t.field({
      type: "DateTime",
      required: false,
      description: "Sends later (cancelScheduled stops it).",
    }),
  }),
});

builder.queryFields((t) => ({
  broadcast: t.prismaField({
    type: "Broadcast",
    nullable: true,
    description: "A broadcast and its progress (API key or ADMIN); NOT_FOUND when there is none.",
    authScopes: { admin: true },
    args: { id: t.arg.id() },
    resolve: async (query, _root, args, ctx) => {
      const id = String(args.id);
      const broadcast = isUuid(id)
        ? await ctx.prisma.broadcast.findUnique({ ...query, where: { id } })
        : null;
      if (!broadcast) throw notFound("Broadcast");
      return broadcast;
    },
  }),
  broadcasts: t.prismaConnection(
    {
      type: "Broadcast",
      cursor: "id",
      ...pageLimits,
      description: "Broadcasts, newest first (API key or ADMIN).",
      authScopes: { admin: true },
      resolve: (query, _root, args, ctx) =>
        ctx.prisma.broadcast.findMany({ ...withValidCursor(query, args), orderBy: { id: "desc" } }),
      totalCount: (_root, _args, ctx) => ctx.prisma.broadcast.count(),
    },
    { name: "BroadcastConnection" },
    { name: "BroadcastEdge" },
  ),
}));

builder.mutationFields((t) => ({
  broadcast: t.prismaField({
    type: "Broadcast",
    description:
      "Sends a notification to many users (API key or ADMIN). Returns at once (QUEUED, or SCHEDULED with " +
      "scheduledAt); recipients are added in the background in batches.",
    authScopes: { admin: true },
    args: { input: t.arg({ type: BroadcastInput }) },
    resolve: (query, _root, args, ctx) => createBroadcast(ctx, ctx.actor, args.input, query),
  }),
}));
