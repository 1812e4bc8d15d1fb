// The daily digest: NORMAL/HIGH email deliveries of DAILY_DIGEST users wait (viaDigest, no job of
// their own) until one `digest.send` job per user sends ONE email per email target listing them all.
//
// Dedupe: pg-boss's singletonKey only dedupes on queues with a singleton/short policy (see
// node_modules/pg-boss/src/plans.js: the unique indexes are partial on `policy`), and our queues
// are `standard`. So the rule lives in our own state, under a per-user advisory lock held by both
// sides: "while a user has waiting digest deliveries that no run has claimed, a digest job is
// pending". A writer that adds the first such delivery enqueues the job; the job sends them all.
//
// No mail is sent inside a transaction (a slow mail server would hold it, and a rollback after the
// send would send the digest again): a run CLAIMS its deliveries in one short transaction, sends
// with no transaction open, and RECORDS the outcome in another.

import { v7 as uuidv7 } from "uuid";
import { JOB_EXPIRE_SECONDS } from "../../../core/jobs.ts";
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
  // Claimed deliveries do not count: their run records them soon (or its retry resends them), and
  // a delivery added meanwhile needs a job of its own.
  const waiting = await tx.delivery.groupBy({
    by: ["userId"],
    where: {
      userId: { in: sorted.map((u) => u.userId) },
      viaDigest: true,
      state: { in: WAITING },
      digestClaim: null,
    },
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
 * How long a run's claim holds. A run lasts no longer than a job may (pg-boss retries a job whose
 * worker died once JOB_EXPIRE_SECONDS pass), so when that retry comes the claim has lapsed and the
 * retry resends the dead run's set.
 */
const CLAIM_MS = JOB_EXPIRE_SECONDS * 1000;

const include = { notification: true, target: true } as const;
const oldestFirst = [{ createdAt: "asc" as const }, { id: "asc" as const }];

type Claim = { id: string; batch: Waiting[]; more: boolean };

/**
 * The claim, in one short transaction under the user's digest lock. A claim whose time has passed
 * belongs to a run that died between sending and recording: this run takes exactly that set again
 * (so the email it resends is the same, with the same Message-ID). Otherwise it claims the oldest
 * unclaimed waiting deliveries, up to DIGEST_BATCH; the rest get a follow-up job at once. Deliveries
 * of a live claim are another run's: left alone. Null when there is nothing to send.
 */
async function claimDigest(
  services: Pick<AppServices, "prisma" | "pubsub" | "jobs">,
  userId: string,
): Promise<Claim | null> {
  return writeTransaction(services, async (tx, _emit, enqueue): Promise<Claim | null> => {
    await lockDigest(tx, userId);
    const now = new Date();
    const mine = { userId, viaDigest: true, state: { in: WAITING } };
    const lapsed = await tx.delivery.findFirst({
      where: { ...mine, digestClaim: { not: null }, digestClaimUntil: { lt: now } },
      orderBy: [{ digestClaimUntil: "asc" }],
      select: { digestClaim: true },
    });
    let claim: Claim;
    if (lapsed?.digestClaim) {
      const batch = await tx.delivery.findMany({
        where: { ...mine, digestClaim: lapsed.digestClaim },
        include,
        orderBy: oldestFirst,
      });
      const unclaimed = await tx.delivery.count({ where: { ...mine, digestClaim: null } });
      claim = { id: lapsed.digestClaim, batch, more: unclaimed > 0 };
    } else {
      const waiting = await tx.delivery.findMany({
        where: { ...mine, digestClaim: null },
        include,
        orderBy: oldestFirst,
        take: DIGEST_BATCH + 1,
      });
      claim = { id: uuidv7(), batch: waiting.slice(0, DIGEST_BATCH), more: waiting.length > DIGEST_BATCH };
    }
    if (claim.batch.length === 0) return null;
    await tx.delivery.updateMany({
      where: { id: { in: claim.batch.map((d) => d.id) } },
      data: { digestClaim: claim.id, digestClaimUntil: new Date(now.getTime() + CLAIM_MS) },
    });
    // Keep the rule "unclaimed waiting deliveries => a pending job" for what this run leaves behind.
    if (claim.more) await enqueue("digest.send", { userId }, { singletonKey: `digest:${userId}` });
    return claim;
  });
}

type Outcome =
  | { items: Waiting[]; ok: true; messageId: string | null }
  | { items: Waiting[]; ok: false; error: string; retryable: boolean };

/**
 * Sends the user's digest now: one email per email target. Claim (one short transaction), send (no
 * transaction open), record (another): two runs (the job and `sendDigestNow`) never send the same
 * deliveries, a failed send leaves them waiting for the job's retry, and a run that dies between
 * sending and recording has its set resent once by the next run after the claim lapses, with the
 * same Message-ID (derived from the first delivery of each email), so the receiving side can drop it.
 */
export async function runDigest(
  services: Pick<AppServices, "prisma" | "pubsub" | "jobs" | "config">,
  userId: string,
  attempt: AttemptInfo,
): Promise<DigestResult> {
  const claim = await claimDigest(services, userId);
  if (!claim) return { sent: 0, error: null, more: false };
  const email = providersFor(services.config).EMAIL;
  const byTarget = new Map<string, Waiting[]>();
  for (const d of claim.batch) byTarget.set(d.targetId, [...(byTarget.get(d.targetId) ?? []), d]);
  const outcomes: Outcome[] = [];
  for (const items of byTarget.values()) {
    const first = items[0];
    if (!first) continue;
    if (!email) {
      outcomes.push({ items, ok: false, error: "no email provider configured", retryable: false });
      continue;
    }
    try {
      const messageId = await email.sendMail({
        to: first.target.address,
        subject: `Your daily digest: ${items.length} notification${items.length === 1 ? "" : "s"}`,
        text: digestText(items),
        messageId: email.messageIdFor(`digest-${first.id}`),
      });
      outcomes.push({ items, ok: true, messageId });
    } catch (e) {
      outcomes.push(
        e instanceof ProviderError
          ? { items, ok: false, error: e.message, retryable: e.retryable }
          : { items, ok: false, error: String(e), retryable: true },
      );
    }
  }
  const { sent, error } = await recordDigest(services, userId, claim.id, outcomes, attempt);
  return { sent, error, more: claim.more };
}

/**
 * The outcome, in one short transaction: only deliveries still under this run's claim are moved
 * (a run whose claim lapsed and was taken over leaves them to the run that took it), and the claim
 * is cleared with the new state.
 */
async function recordDigest(
  services: Pick<AppServices, "prisma" | "pubsub" | "jobs">,
  userId: string,
  claimId: string,
  outcomes: readonly Outcome[],
  attempt: AttemptInfo,
): Promise<{ sent: number; error: string | null }> {
  return writeTransaction(services, async (tx, emit) => {
    await lockDigest(tx, userId);
    let sent = 0;
    let error: string | null = null;
    const broadcasts = new Set<string>();
    const released = { digestClaim: null, digestClaimUntil: null, attempts: { increment: 1 } };
    for (const outcome of outcomes) {
      const where = {
        id: { in: outcome.items.map((d) => d.id) },
        digestClaim: claimId,
        state: { in: WAITING },
      };
      if (outcome.ok) {
        const rows = await tx.delivery.updateManyAndReturn({
          where,
          data: { ...released, state: "SENT", sentAt: new Date(), providerMessageId: outcome.messageId },
          select: { broadcastId: true },
        });
        sent += rows.length;
        for (const r of rows) if (r.broadcastId) broadcasts.add(r.broadcastId);
        continue;
      }
      const final = !outcome.retryable || attempt.retryCount >= attempt.retryLimit;
      const state: DeliveryState = !outcome.retryable ? "FAILED" : final ? "DEAD" : "RETRYING";
      const rows = await tx.delivery.updateManyAndReturn({
        where,
        data: { ...released, state, lastError: outcome.error.slice(0, 1000) },
        select: { id: true, notificationId: true, channel: true, broadcastId: true },
      });
      if (rows.length > 0 && outcome.retryable) error = outcome.error;
      for (const d of rows) {
        if (d.broadcastId) broadcasts.add(d.broadcastId);
        if (!final) continue;
        emit({
          type: "notification.failed",
          userId,
          payload: {
            notificationId: d.notificationId,
            deliveryId: d.id,
            channel: d.channel,
            state,
            error: outcome.error,
          },
        });
      }
    }
    for (const broadcastId of broadcasts) await recipientDeliveryChanged(tx, emit, broadcastId, userId);
    return { sent, error };
  });
}
