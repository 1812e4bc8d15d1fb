// Per-recipient progress of a broadcast and its completion. A recipient's state follows the
// deliveries of its notification; the broadcast completes once fan-out is done and no recipient is
// still waiting. Both run inside the caller's transaction (a delivery update or a fan-out batch).
import type { Emit } from "../../../events/writer.ts";
import type { DeliveryState, Prisma } from "../../../generated/prisma/client.ts";

/** Recipients in these states still wait for a delivery: the broadcast is not complete. */
const PENDING: readonly DeliveryState[] = ["QUEUED", "RETRYING"];

export type BroadcastCounts = {
  queued: number;
  sent: number;
  failed: number;
  retrying: number;
  dead: number;
  total: number;
};

/** Recipients per state, in one GROUP BY over the (broadcastId, state) index. */
export async function broadcastCounts(
  db: Pick<Prisma.TransactionClient, "$queryRaw">,
  broadcastId: string,
): Promise<BroadcastCounts> {
  const rows = await db.$queryRaw<{ state: DeliveryState; n: number }[]>`
    SELECT state, count(*)::int AS n FROM "BroadcastRecipient"
    WHERE "broadcastId" = ${broadcastId}::uuid GROUP BY state`;
  const of = (state: DeliveryState) => rows.find((r) => r.state === state)?.n ?? 0;
  const counts = {
    queued: of("QUEUED"),
    sent: of("SENT"),
    failed: of("FAILED"),
    retrying: of("RETRYING"),
    dead: of("DEAD"),
  };
  return { ...counts, total: rows.reduce((sum, r) => sum + r.n, 0) };
}

/**
 * Called (inside the transaction that changed it) whenever a delivery that belongs to a broadcast
 * changes state: recomputes that recipient's state and completes the broadcast when nothing is left.
 *
 * The recipient row is locked first: two deliveries of one recipient (email and push) settling at
 * once would otherwise each read the other as still QUEUED and leave the recipient QUEUED for good.
 * Under READ COMMITTED the read after the lock sees the other transaction's committed update.
 */
export async function recipientDeliveryChanged(
  tx: Prisma.TransactionClient,
  emit: Emit,
  broadcastId: string,
  userId: string,
): Promise<void> {
  const [recipient] = await tx.$queryRaw<{ state: DeliveryState; notificationId: string | null }[]>`
    SELECT state, "notificationId" FROM "BroadcastRecipient"
    WHERE "broadcastId" = ${broadcastId}::uuid AND "userId" = ${userId}::uuid
    FOR UPDATE`;
  if (!recipient) return;
  // Digest deliveries do not hold a recipient: the digest may go out tomorrow.
  const [agg] = await tx.$queryRaw<
    {
      retrying: boolean | null;
      queued: boolean | null;
      dead: boolean | null;
      failed: boolean | null;
      attempts: number;
      lastError: string | null;
    }[]
  >`
    SELECT bool_or(state = 'RETRYING') AS retrying, bool_or(state = 'QUEUED') AS queued,
           bool_or(state = 'DEAD') AS dead, bool_or(state = 'FAILED') AS failed,
           coalesce(max(attempts), 0)::int AS attempts,
           (array_agg("lastError" ORDER BY "updatedAt" DESC) FILTER (WHERE "lastError" IS NOT NULL))[1]
             AS "lastError"
    FROM "Delivery"
    WHERE "broadcastId" = ${broadcastId}::uuid AND "userId" = ${userId}::uuid AND NOT "viaDigest"`;
  const state: DeliveryState = agg?.retrying
    ? "RETRYING"
    : agg?.queued
      ? "QUEUED"
      : agg?.dead
        ? "DEAD"
        : agg?.failed
          ? "FAILED"
          : "SENT";
  await tx.$executeRaw`
    UPDATE "BroadcastRecipient"
    SET state = ${state}::"DeliveryState", attempts = ${agg?.attempts ?? 0}, "lastError" = ${agg?.lastError ?? null},
        "updatedAt" = now()
    WHERE "broadcastId" = ${broadcastId}::uuid AND "userId" = ${userId}::uuid`;
  // Only a recipient that just settled can be the last one the broadcast waited for.
  if (PENDING.includes(recipient.state) && !PENDING.includes(state)) {
    await completeIfDone(tx, emit, broadcastId);
  }
}

/**
 * Marks the broadcast COMPLETED (and logs `broadcast.completed` with its counts) once its fan-out is
 * done and no recipient waits any more; does nothing otherwise. Exactly once: the Broadcast row is
 * locked before the check, so of two concurrent last deliveries the second sees the first's commit
 * (and the status it set) instead of both missing each other.
 */
export async function completeIfDone(tx: Prisma.TransactionClient, emit: Emit, broadcastId: string) {
  const [broadcast] = await tx.$queryRaw<{ status: string; fanoutDone: boolean }[]>`
    SELECT status, "fanoutDone" FROM "Broadcast" WHERE id = ${broadcastId}::uuid FOR UPDATE`;
  if (broadcast?.status !== "SENDING" || !broadcast.fanoutDone) return false;
  const counts = await broadcastCounts(tx, broadcastId);
  if (counts.queued + counts.retrying > 0) return false;
  await tx.broadcast.update({
    where: { id: broadcastId },
    data: { status: "COMPLETED", completedAt: new Date() },
  });
  emit({ type: "broadcast.completed", payload: { broadcastId, ...counts } });
  return true;
}
