import { type Actor, isOperator, requireUser } from "../../core/actor.ts";
import { badInput, forbidden, notFound } from "../../core/errors.ts";
import { cleanHttpUrl, cleanJsonObject, cleanScheduledAt, cleanText, isUuid } from "../../core/input.ts";
import type { Services as AppServices } from "../../core/services.ts";
import type { Emit, Enqueue } from "../../events/writer.ts";
import { writeTransaction } from "../../events/writer.ts";
import type { Notification, NotificationPriority, Prisma } from "../../generated/prisma/client.ts";
import { requireUserRef } from "../users/users.ts";
import { createDeliveries } from "./delivery/plan.ts";
import { JOB_PRIORITY } from "./delivery/routes.ts";
import { renderTemplate, requireTemplate } from "./templates.ts";

type Services = Pick<AppServices, "prisma" | "pubsub" | "jobs">;

export type NotificationInput = {
  userId: string;
  type: string;
  title: string;
  body: string;
  priority?: NotificationPriority;
  actionUrl?: string | null;
  data?: Prisma.InputJsonObject;
  /** Key of the template it was rendered from. */
  template?: string | null;
  /** In the future: kept SCHEDULED (invisible to the addressee) until a `notification.fire` job. */
  scheduledAt?: Date | null;
};

/**
 * Creates an in-app notification. Delivered now: logs `notification.created` for its addressee and
 * plans its out-of-app deliveries, in the same transaction. Scheduled: only the row and its durable
 * `notification.fire` job, which delivers it later unless it was cancelled.
 */
export function createNotification(ctx: Services, input: NotificationInput) {
  const { scheduledAt, ...fields } = input;
  const scheduled = scheduledAt != null && scheduledAt.getTime() > Date.now();
  return writeTransaction(ctx, async (tx, emit, enqueue) => {
    const notification = await tx.notification.create({
      data: {
        ...fields,
        data: input.data ?? {},
        status: scheduled ? "SCHEDULED" : "DELIVERED",
        scheduledAt: scheduledAt ?? null,
        deliveredAt: scheduled ? null : new Date(),
      },
    });
    if (scheduled) {
      await enqueue(
        "notification.fire",
        { notificationId: notification.id },
        { startAfter: scheduledAt, priority: JOB_PRIORITY[notification.priority] },
      );
    } else {
      await deliverNotification(tx, emit, enqueue, notification);
    }
    return notification;
  });
}

/** The in-app event and the out-of-app deliveries of a notification that reaches its addressee now. */
async function deliverNotification(
  tx: Prisma.TransactionClient,
  emit: Emit,
  enqueue: Enqueue,
  notification: Pick<Notification, "id" | "userId" | "priority">,
) {
  emit({
    type: "notification.created",
    userId: notification.userId,
    payload: { notificationId: notification.id },
  });
  await createDeliveries(tx, enqueue, [notification]);
}

/**
 * The `notification.fire` job: delivers a SCHEDULED notification. The row lock makes fire and
 * cancel exclusive (whoever locks first wins; the other sees the new status), and a repeated job
 * finds it DELIVERED and does nothing.
 */
export async function fireNotification(services: Services, notificationId: string): Promise<void> {
  await writeTransaction(services, async (tx, emit, enqueue) => {
    const [row] = await tx.$queryRaw<Pick<Notification, "id" | "userId" | "priority" | "status">[]>`
      SELECT id, "userId", priority, status FROM "Notification" WHERE id = ${notificationId}::uuid FOR UPDATE`;
    if (row?.status !== "SCHEDULED") return;
    await tx.notification.update({
      where: { id: row.id },
      data: { status: "DELIVERED", deliveredAt: new Date() },
    });
    await deliverNotification(tx, emit, enqueue, row);
  });
}

export type SendNotificationArgs = {
  userId: string;
  template?: string | null | undefined;
  title?: string | null | undefined;
  body?: string | null | undefined;
  data?: unknown;
  priority?: NotificationPriority | null | undefined;
  actionUrl?: string | null | undefined;
  scheduledAt?: Date | null | undefined;
};

const MAX_TITLE = 200;
const MAX_BODY = 5_000;

/** `sendNotification`: checks every argument before anything is written, then creates it. */
export async function sendNotification(ctx: AppServices, actor: Actor, args: SendNotificationArgs) {
  if (!isOperator(actor)) throw forbidden("Only the API key or an ADMIN can send notifications");
  const data = cleanJsonObject(args.data, "data", ctx.config.caps) as Prisma.InputJsonObject;
  const hasText = args.title != null || args.body != null;
  if (args.template != null && hasText) {
    throw badInput("template", "Give either a template or a title and body, not both");
  }
  if (args.template == null && (args.title == null || args.body == null)) {
    throw badInput(args.title == null ? "title" : "body", "Give a template, or both title and body");
  }
  const actionUrl = args.actionUrl == null ? null : cleanHttpUrl(args.actionUrl, "actionUrl");
  const scheduledAt = args.scheduledAt == null ? null : cleanScheduledAt(args.scheduledAt, "scheduledAt");
  let title: string;
  let body: string;
  let priority: NotificationPriority;
  let type = "custom";
  if (args.template != null) {
    const template = await requireTemplate(ctx, args.template);
    title = renderTemplate(template.title, data);
    body = renderTemplate(template.body, data);
    priority = args.priority ?? template.defaultPriority;
    type = template.key;
  } else {
    title = cleanText(args.title ?? "", "title", MAX_TITLE);
    body = cleanText(args.body ?? "", "body", MAX_BODY);
    priority = args.priority ?? "NORMAL";
  }
  const user = await requireUserRef(ctx, args.userId, "userId");
  return createNotification(ctx, {
    userId: user.id,
    type,
    template: args.template != null ? type : null,
    title: title.slice(0, MAX_TITLE),
    body: body.slice(0, MAX_BODY),
    priority,
    actionUrl,
    data,
    scheduledAt,
  });
}

/** Marks one of the viewer's notifications read (idempotent); others' ids are NOT_FOUND. */
export async function markNotificationRead(ctx: AppServices, actor: Actor, input: { id: string }) {
  const viewerId = requireUser(actor).id;
  const { id } = input;
  if (!isUuid(id)) throw notFound("Notification");
  return writeTransaction(ctx, async (tx, emit) => {
    const { count } = await tx.notification.updateMany({
      where: { id, userId: viewerId, status: "DELIVERED", readAt: null },
      data: { readAt: new Date() },
    });
    const notification = await tx.notification.findFirst({
      where: { id, userId: viewerId, status: "DELIVERED" },
    });
    if (!notification) throw notFound("Notification");
    // Other devices of the viewer follow along (badge counts).
    if (count > 0) emit({ type: "notification.read", userId: viewerId, payload: { notificationId: id } });
    return notification;
  });
}

/** Marks all of the viewer's delivered notifications read; returns how many changed. */
export async function markAllNotificationsRead(ctx: AppServices, actor: Actor): Promise<number> {
  const viewerId = requireUser(actor).id;
  return writeTransaction(ctx, async (tx, emit) => {
    const { count } = await tx.notification.updateMany({
      where: { userId: viewerId, status: "DELIVERED", readAt: null },
      data: { readAt: new Date() },
    });
    if (count > 0) emit({ type: "notification.read", userId: viewerId, payload: { all: true, count } });
    return count;
  });
}
