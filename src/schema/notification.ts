import { builder } from "../builder.ts";
import type { LogEvent } from "../events/log.ts";
import { eventStream } from "../events/stream.ts";
import { cursorOf } from "./events.ts";

export const NotificationPriority = builder.enumType("NotificationPriority", {
  values: ["LOW", "NORMAL", "HIGH", "URGENT"] as const,
});

export const Notification = builder.prismaObject("Notification", {
  fields: (t) => ({
    id: t.exposeID("id"),
    type: t.exposeString("type"),
    title: t.exposeString("title"),
    body: t.exposeString("body"),
    priority: t.expose("priority", { type: NotificationPriority }),
    actionUrl: t.exposeString("actionUrl", { nullable: true }),
    data: t.expose("data", { type: "JSON" }),
    readAt: t.expose("readAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
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
      eventStream(ctx, { types: ["notification.created"], addressedOnly: true, after: args.after }),
    resolve: (e: LogEvent): NotificationEventShape => ({
      notificationId: (e.payload as { notificationId?: string } | null)?.notificationId ?? "",
      cursor: cursorOf(e),
    }),
  }),
}));
