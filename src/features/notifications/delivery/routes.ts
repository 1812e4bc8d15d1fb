// Which channels a notification takes beyond the app, from the addressee's preference and the
// notification's priority. In-app always happens (the Notification row itself); this decides the rest.
import type { DeliveryRoute, NotificationPriority, TargetKind } from "../../../generated/prisma/client.ts";

export type RouteTarget = { id: string; kind: TargetKind };
export type PlannedDelivery = { targetId: string; channel: TargetKind; viaDigest: boolean };

/** Route for users who never set a preference. */
export const DEFAULT_ROUTE: DeliveryRoute = "IN_APP_AND_EMAIL";

/** Job priority by notification priority: urgent work overtakes a queue full of promotions. */
export const JOB_PRIORITY: Record<NotificationPriority, number> = {
  LOW: 0,
  NORMAL: 10,
  HIGH: 20,
  URGENT: 30,
};

/**
 * The rules, one line each:
 * - LOW stays in the app, whatever the route: it never interrupts anyone.
 * - IN_APP_ONLY: nothing leaves the app.
 * - IN_APP_AND_EMAIL: NORMAL and above by email; HIGH and URGENT also by push.
 * - IN_APP_EMAIL_AND_SMS: as IN_APP_AND_EMAIL, plus SMS for URGENT.
 * - DAILY_DIGEST: NORMAL and HIGH wait for the daily digest email; URGENT bypasses the digest and
 *   goes out at once by email and push.
 */
export function planRoute(
  route: DeliveryRoute,
  priority: NotificationPriority,
  targets: readonly RouteTarget[],
): PlannedDelivery[] {
  if (priority === "LOW" || route === "IN_APP_ONLY") return [];
  const urgent = priority === "URGENT";
  const high = priority === "HIGH" || urgent;
  const digest = route === "DAILY_DIGEST" && !urgent;
  const planned: PlannedDelivery[] = [];
  for (const target of targets) {
    const wanted =
      target.kind === "EMAIL" ||
      (target.kind === "PUSH" && high && !digest) ||
      (target.kind === "SMS" && urgent && route === "IN_APP_EMAIL_AND_SMS");
    if (wanted) {
      planned.push({
        targetId: target.id,
        channel: target.kind,
        viaDigest: digest && target.kind === "EMAIL",
      });
    }
  }
  return planned;
}
