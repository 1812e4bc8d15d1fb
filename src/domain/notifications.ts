import type { Context } from "../context.ts";
import { writeTransaction } from "../events/transaction.ts";
import type { NotificationPriority, Prisma } from "../generated/prisma/client.ts";

export type NotificationInput = {
  userId: string;
  type: string;
  title: string;
  body: string;
  priority?: NotificationPriority;
  actionUrl?: string | null;
  data?: Prisma.InputJsonObject;
};

/**
 * Creates an in-app notification and logs `notification.created` for its addressee in the same
 * transaction (templates, routes and out-of-app delivery build on this).
 */
export function createNotification(ctx: Pick<Context, "prisma" | "pubsub" | "jobs">, input: NotificationInput) {
  return writeTransaction(ctx, async (tx, emit) => {
    const notification = await tx.notification.create({ data: { ...input, data: input.data ?? {} } });
    emit({
      type: "notification.created",
      userId: input.userId,
      payload: { notificationId: notification.id },
    });
    return notification;
  });
}
