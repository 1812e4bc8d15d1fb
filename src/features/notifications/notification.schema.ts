import type { LogEvent } from "../../events/log.ts";
import { eventStream } from "../../events/stream.ts";
import { builder, pageLimits } from "../../schema/builder.ts";
import { requireViewer } from "../../schema/context.ts";
import { withValidCursor } from "../../schema/cursor.ts";
import { cursorOf } from "../../schema/events.ts";
import { markAllNotificationsRead, markNotificationRead, sendNotification } from "./notifications.ts";

export const NotificationPriority = builder.enumType("NotificationPriority", {
  values: ["LOW", "NORMAL", "HIGH", "URGENT"] as const,
});

export const NotificationStatus = builder.enumType("NotificationStatus", {
  description: "SCHEDULED until scheduledAt (invisible to the addressee), then DELIVERED; or CANCELLED.",
  values: ["SCHEDULED", "DELIVERED", "CANCELLED"] as const,
});

export const Notification = builder.prismaObject("Notification", {
  fields: (t) => ({
    id: t.exposeID("id"),
    user: t.relation("user", { description: "The addressee." }),
    type: t.exposeString("type", { description: "The template key, or `custom` for plain title and body." }),
    template: t.exposeString("template", { nullable: true }),
    title: t.exposeString("title"),
    body: t.exposeString("body"),
    priority: t.expose("priority", { type: NotificationPriority }),
    actionUrl: t.exposeString("actionUrl", { nullable: true }),
    data: t.expose("data", { type: "JSON" }),
    status: t.expose("status", { type: NotificationStatus }),
    scheduledAt: t.expose("scheduledAt", { type: "DateTime", nullable: true }),
    deliveredAt: t.expose("deliveredAt", { type: "DateTime", nullable: true }),
    readAt: t.expose("readAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    deliveries: t.relation("deliveries", {
      description: "Its out-of-app deliveries (email, SMS, push), oldest first.",
      query: { orderBy: [{ createdAt: "asc" }, { id: "asc" }] },
    }),
  }),
});

type NotificationEventShape = { notificationId: string; cursor: string };

const NotificationEvent = builder.objectRef<NotificationEventShape>("NotificationEvent").implement({
  fields: (t) => ({
    notification: t.prismaField({
      type: "Notification",
      resolve: (query, e, _args, ctx) =>
        ctx.prisma.notification.findUniqueOrThrow({ ...query, where: { id: e.notificationId } }),
    }),
    cursor: t.exposeString("cursor"),
  }),
});

builder.subscriptionFields((t) => ({
  notificationEvents: t.field({
    type: NotificationEvent,
    description: "Notifications addressed to the viewer; `after` resumes as for messageEvents.",
    authScopes: { viewer: true },
    args: { after: t.arg.string({ required: false }) },
    subscribe: (_root, args, ctx) =>
      eventStream(
        ctx,
        // Addressed to the viewer only: no conversation is in view.
        { userId: requireViewer(ctx).id, visibleConversations: async () => [] },
        { types: ["notification.created"], addressedOnly: true, after: args.after },
      ),
    resolve: (e: LogEvent): NotificationEventShape => ({
      notificationId: (e.payload as { notificationId?: string } | null)?.notificationId ?? "",
      cursor: cursorOf(e),
    }),
  }),
}));

/** What the addressee sees: delivered notifications only (scheduled ones wait, cancelled never show). */
const visibleTo = (userId: string, unreadOnly: boolean | null | undefined) => ({
  userId,
  status: "DELIVERED" as const,
  ...(unreadOnly ? { readAt: null } : {}),
});

builder.queryFields((t) => ({
  notifications: t.prismaConnection(
    {
      type: "Notification",
      cursor: "id",
      ...pageLimits,
      description: "The viewer's notifications, newest first; `unreadOnly` leaves out read ones.",
      authScopes: { viewer: true },
      args: { unreadOnly: t.arg.boolean({ required: false }) },
      resolve: (query, _root, args, ctx) =>
        ctx.prisma.notification.findMany({
          ...withValidCursor(query, args),
          where: visibleTo(requireViewer(ctx).id, args.unreadOnly),
          orderBy: [{ deliveredAt: "desc" }, { id: "desc" }],
        }),
      totalCount: (_root, args, ctx) =>
        ctx.prisma.notification.count({ where: visibleTo(requireViewer(ctx).id, args.unreadOnly) }),
    },
    { name: "NotificationConnection" },
    { name: "NotificationEdge" },
  ),
  unreadNotifications: t.int({
    description: "How many of the viewer's notifications are unread.",
    authScopes: { viewer: true },
    resolve: (_root, _args, ctx) =>
      ctx.prisma.notification.count({ where: visibleTo(requireViewer(ctx).id, true) }),
  }),
}));

builder.mutationFields((t) => ({
  sendNotification: t.prismaField({
    type: "Notification",
    description:
      "Sends a notification to a user (id or username): a template with `data`, or a title and body. " +
      "Priority defaults to the template's (else NORMAL). With a future `scheduledAt` it waits " +
      "(status SCHEDULED) until then. API key or ADMIN.",
    authScopes: { admin: true },
    args: {
      userId: t.arg.string(),
      template: t.arg.string({ required: false }),
      title: t.arg.string({ required: false }),
      body: t.arg.string({ required: false }),
      data: t.arg({ type: "JSON", required: false }),
      priority: t.arg({ type: NotificationPriority, required: false }),
      actionUrl: t.arg.string({ required: false }),
      scheduledAt: t.arg({ type: "DateTime", required: false }),
    },
    resolve: async (query, _root, args, ctx) => {
      const notification = await sendNotification(ctx, ctx.actor, args);
      return ctx.prisma.notification.findUniqueOrThrow({ ...query, where: { id: notification.id } });
    },
  }),
  markNotificationRead: t.prismaField({
    type: "Notification",
    description: "Marks one of the viewer's notifications read (again: no change).",
    authScopes: { viewer: true },
    args: { id: t.arg.id() },
    resolve: async (query, _root, args, ctx) => {
      const n = await markNotificationRead(ctx, ctx.actor, { id: String(args.id) });
      return ctx.prisma.notification.findUniqueOrThrow({ ...query, where: { id: n.id } });
    },
  }),
  markAllNotificationsRead: t.int({
    description: "Marks every notification of the viewer read; returns how many were unread.",
    authScopes: { viewer: true },
    resolve: (_root, _args, ctx) => markAllNotificationsRead(ctx, ctx.actor),
  }),
}));
