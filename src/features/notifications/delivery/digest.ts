// The daily digest: NORMAL/HIGH email deliveries of DAILY_DIGEST users wait (viaDigest, no job of
// their own) until one `digest.send` job per user sends ONE email per email target listing them all.
//
// Dedupe: pg-boss's singletonKey only dedupes on queues with a singleton/short policy (see
// node_modules/pg-boss/src/plans.js: the unique indexes are partial on `policy`), and our queues
// are `standard`. So the rule lives in our own state, under a per-user advisory lock held by both
// sides: "while a user has waiting digest deliveries, exactly one digest job is pending". A writer
// that adds the first waiting delivery enqueues the job; the job sends everything waiting.

import type { Services as AppServices } from "../../../core/services.ts";
import type { Enqueue } from "../../../events/writer.ts";
import { writeTransaction } from "../../../events/writer.ts";
import type { DeliveryState, Prisma } from "../../../generated/prisma/client.ts";
import { recipientDeliveryChanged } from "./broadcast-progress.ts";
import { providersFor } from "./providers/index.ts";
import { ProviderError } from "./providers/types.ts";
import type { AttemptInfo } from "./send.ts";

/** Waiting digest deliveries are QUEUED, or RETRYING after a failed digest attempt. */
const WAITING: DeliveryState[] = ["QUEUED", "RETRYING"];
/** Most notifications one digest run sends; the rest go in a follow-up run at once. */
const DIGEST_BATCH = 500;

/** The next time (strictly after `now`) the clock reads `hourUtc`:00 UTC. */
export function nextDigestAt(hourUtc: number, now = new Date()): Date {
  const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), hourUtc));
  if (next.getTime() <= now.getTime()) next.setUTCDate(next.getUTCDate() + 1);
  return next;
}

/** Serialises digest scheduling and sending of one user (held until the transaction ends). */
async function lockDigest(tx: Prisma.TransactionClient, userId: string) {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`digest:${userId}`}, 0))`;
}

/**
 * Call BEFORE inserting new digest deliveries, in the same transaction: for each user that has no
 * waiting digest delivery yet, enqueues the user's `digest.send` job for their next digest hour.
 */
export async function scheduleDigests(
  tx: Prisma.TransactionClient,
  enqueue: Enqueue,
  users: readonly { userId: string; digestHourUtc: number }[],
): Promise<void> {
  if (users.length === 0) return;
  // Sorted: two transactions locking several users take the locks in one order (no deadlock).
  const sorted = [...new Map(users.map((u) => [u.userId, u])).values()].sort((a, b) =>
    a.userId < b.userId ? -1 : 1,
  );
  for (const u of sorted) await lockDigest(tx, u.userId);
  const waiting = await tx.delivery.groupBy({
    by: ["userId"],
    where: { userId: { in: sorted.map((u) => u.userId) }, viaDigest: true, state: { in: WAITING } },
  });
  const pending = new Set(waiting.map((w) => w.userId));
  const jobs = sorted
    .filter((u) => !pending.has(u.userId))
    .map((u) => ({
      data: { userId: u.userId },
      options: { startAfter: nextDigestAt(u.digestHourUtc), singletonKey: `digest:${u.userId}` },
    }));
  await enqueue.many("digest.send", jobs);
}

type Waiting = Prisma.DeliveryGetPayload<{ include: { notification: true; target: true } }>;

function digestText(items: readonly Waiting[]): string {
  const lines = [`You have ${items.length} notification${items.length === 1 ? "" : "s"}:`, ""];
  for (const { notification: n } of items) {
    lines.push(`* ${n.title}`, `  ${n.body.replaceAll("\n", "\n  ")}`);
    if (n.actionUrl) lines.push(`  ${n.actionUrl}`);
    lines.push("");
  }
  return lines.join("\n");
}

export type DigestResult = {
  /** Notifications included in a digest email that went out. */
  sent: number;
  /** A retryable failure (deliveries left RETRYING, or DEAD after the last attempt): the job fails. */
  error: string | null;
  /** Deliveries remain beyond this run's batch. */
  more: boolean;
};

/**
 * Sends the user's digest now: one email per email target. Runs under the user's digest lock, so
 * two runs (the job and `sendDigestNow`) never send the same deliveries twice; the email is sent
 * inside the transaction and the deliveries marked SENT with it (a crash in between resends, with
 * the same Message-ID, derived from the first delivery of the email).
 */
export async function runDigest(
  services: Pick<AppServices, "prisma" | "pubsub" | "jobs" | "config">,
  userId: string,
  attempt: AttemptInfo,
): Promise<DigestResult> {
  const email = providersFor(services.config).EMAIL;
  const result = await writeTransaction(services, async (tx, emit, enqueue): Promise<DigestResult> => {
    await lockDigest(tx, userId);
    const waiting = await tx.delivery.findMany({
      where: { userId, viaDigest: true, state: { in: WAITING } },
      include: { notification: true, target: true },
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
      take: DIGEST_BATCH + 1,
    });
    const more = waiting.length > DIGEST_BATCH;
    const batch = waiting.slice(0, DIGEST_BATCH);
    const byTarget = new Map<string, Waiting[]>();
    for (const d of batch) byTarget.set(d.targetId, [...(byTarget.get(d.targetId) ?? []), d]);
    let sent = 0;
    let error: string | null = null;
    const broadcasts = new Set<string>();
    for (const items of byTarget.values()) {
      const first = items[0];
      if (!first) continue;
      const ids = items.map((d) => d.id);
      let failure: { error: string; retryable: boolean } | null = null;
      let messageId: string | null = null;
      if (!email) {
        failure = { error: "no email provider configured", retryable: false };
      } else {
        try {
          messageId = await email.sendMail({
            to: first.target.address,
            subject: `Your daily digest: ${items.length} notification${items.length === 1 ? "" : "s"}`,
            text: digestText(items),
            messageId: email.messageIdFor(`digest-${first.id}`),
          });
        } catch (e) {
          failure =
            e instanceof ProviderError
              ? { error: e.message, retryable: e.retryable }
              : { error: String(e), retryable: true };
        }
      }
      for (const d of items) if (d.broadcastId) broadcasts.add(d.broadcastId);
      if (!failure) {
        sent += items.length;
        await tx.delivery.updateMany({
          where: { id: { in: ids } },
          data: {
            state: "SENT",
            sentAt: new Date(),
            providerMessageId: messageId,
            attempts: { increment: 1 },
          },
        });
        continue;
      }
      const final = !failure.retryable || attempt.retryCount >= attempt.retryLimit;
      const state: DeliveryState = !failure.retryable ? "FAILED" : final ? "DEAD" : "RETRYING";
      await tx.delivery.updateMany({
        where: { id: { in: ids } },
        data: { state, lastError: failure.error.slice(0, 1000), attempts: { increment: 1 } },
      });
      if (failure.retryable) error = failure.error;
      if (final) {
        for (const d of items) {
          emit({
            type: "notification.failed",
            userId,
            payload: {
              notificationId: d.notificationId,
              deliveryId: d.id,
              channel: d.channel,
              state,
              error: failure.error,
            },
          });
        }
      }
    }
    for (const broadcastId of broadcasts) await recipientDeliveryChanged(tx, emit, broadcastId, userId);
    // Keep the rule "waiting deliveries => a pending job" for what this run left behind.
    if (more) await enqueue("digest.send", { userId }, { singletonKey: `digest:${userId}` });
    return { sent, error, more };
  });
  return result;
}
