// Creates the out-of-app deliveries of freshly delivered notifications, inside the caller's
// transaction: one Delivery row per (notification, target) and one durable `delivery.send` job for
// each that goes out now. Shared by single notifications, scheduled ones and broadcast fan-out.
import { v7 as uuidv7 } from "uuid";
import type { EnqueueOptions, JobMap } from "../../../core/jobs.ts";
import type { Enqueue } from "../../../events/writer.ts";
import type { NotificationPriority, Prisma } from "../../../generated/prisma/client.ts";
import { scheduleDigests } from "./digest.ts";
import { DEFAULT_ROUTE, JOB_PRIORITY, planRoute } from "./routes.ts";

export type DeliveredNotification = { id: string; userId: string; priority: NotificationPriority };

/** Returns how many deliveries were created (digest ones included). Two queries + two inserts. */
export async function createDeliveries(
  tx: Prisma.TransactionClient,
  enqueue: Enqueue,
  notifications: readonly DeliveredNotification[],
  broadcastId: string | null = null,
): Promise<number> {
  if (notifications.length === 0) return 0;
  const userIds = [...new Set(notifications.map((n) => n.userId))];
  const [preferences, targets] = await Promise.all([
    tx.notificationPreference.findMany({
      where: { userId: { in: userIds } },
      select: { userId: true, route: true, digestHourUtc: true },
    }),
    tx.target.findMany({
      where: { userId: { in: userIds } },
      select: { id: true, userId: true, kind: true },
    }),
  ]);
  const routeOf = new Map(preferences.map((p) => [p.userId, p.route]));
  const digestHourOf = new Map(preferences.map((p) => [p.userId, p.digestHourUtc]));
  const digestUsers = new Set<string>();
  const targetsOf = new Map<string, { id: string; kind: (typeof targets)[number]["kind"] }[]>();
  for (const t of targets) {
    const list = targetsOf.get(t.userId) ?? [];
    list.push(t);
    targetsOf.set(t.userId, list);
  }
  const rows: Prisma.DeliveryCreateManyInput[] = [];
  const jobs: { data: JobMap["delivery.send"]; options: EnqueueOptions }[] = [];
  for (const n of notifications) {
    const planned = planRoute(
      routeOf.get(n.userId) ?? DEFAULT_ROUTE,
      n.priority,
      targetsOf.get(n.userId) ?? [],
    );
    for (const p of planned) {
      const id = uuidv7();
      rows.push({
        id,
        notificationId: n.id,
        userId: n.userId,
        targetId: p.targetId,
        channel: p.channel,
        viaDigest: p.viaDigest,
        broadcastId,
      });
      if (p.viaDigest) digestUsers.add(n.userId);
      else jobs.push({ data: { deliveryId: id }, options: { priority: JOB_PRIORITY[n.priority] } });
    }
  }
  if (rows.length === 0) return 0;
  // Before the insert: a user whose digest deliveries start waiting now gets their digest job.
  await scheduleDigests(
    tx,
    enqueue,
    [...digestUsers].map((userId) => ({ userId, digestHourUtc: digestHourOf.get(userId) ?? 8 })),
  );
  await tx.delivery.createMany({ data: rows });
  await enqueue.many("delivery.send", jobs);
  return rows.length;
}
