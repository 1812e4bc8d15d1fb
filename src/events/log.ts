import { Prisma, type PrismaClient } from "../generated/prisma/client.ts";
import type { Position } from "./position.ts";

/**
 * Every kind of event the log holds. Names are dotted `domain.verb`, as webhooks and the `events`
 * polling query expose them (endpoints subscribe to these names: add new kinds here).
 */
export const EVENT_TYPES = [
  "message.created",
  "message.edited",
  "message.deleted",
  "message.replied",
  "receipt.updated",
  "conversation.created",
  "member.added",
  "member.removed",
  "member.left",
  "member.role_changed",
  "notification.created",
  "notification.read",
  "notification.failed",
  "broadcast.started",
  "broadcast.completed",
  "user.tokens_revoked",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** An event as readers see it. */
export type LogEvent = {
  id: bigint;
  txid: bigint;
  type: EventType;
  conversationId: string | null;
  userId: string | null;
  messageId: string | null;
  seq: number | null;
  payload: Prisma.JsonValue;
  createdAt: Date;
};

/** The client or a transaction: readers may run inside a writer's transaction (webhook dispatch). */
export type LogReader = Pick<Prisma.TransactionClient, "$queryRaw">;

export type EventFilter = {
  /** Events of these conversations ... */
  conversationIds?: readonly string[];
  /** ... or addressed to this user ... */
  userId?: string;
  /**
   * ... where those of a conversation not listed above are only of these types (say, the user's
   * own membership events once they are out); unset: all of them.
   */
  outsideTypes?: readonly EventType[];
  types?: readonly EventType[];
};

/**
 * The log's horizon now: events with a txid below it can all be read by any LATER statement, and
 * no event can commit below it any more. It waits only for this database's registered log writers
 * (event_log_register(), called by writer.ts and send_message), not for every transaction on the
 * server, and it never moves back. Read it in a statement of its own, before the statement that
 * reads below it (in READ COMMITTED, that one's snapshot is later): see
 * prisma/migrations/*_event_log_writers for the function and why this is gap-free.
 */
export async function logHorizon(prisma: LogReader): Promise<bigint> {
  const [row] = await prisma.$queryRaw<{ horizon: bigint }[]>`SELECT event_log_horizon() AS horizon`;
  return row?.horizon ?? 0n;
}

/** Marks the statements that read below the horizon (the statement counter of the tests skips them). */
const READER = Prisma.raw("/* reads below event_log_horizon() */");

/**
 * Events after `after`, in log order, that no still-running writer can precede: only transactions
 * below the log's horizon are read.
 */
export async function readEvents(
  prisma: LogReader,
  after: Position,
  limit: number,
  filter?: EventFilter,
): Promise<LogEvent[]> {
  const conversations = filter?.conversationIds ?? null;
  const user = filter?.userId ?? null;
  const types = filter?.types ?? null;
  const outside = filter?.outsideTypes ?? null;
  const scoped = filter !== undefined && (conversations !== null || user !== null);
  const horizon = await logHorizon(prisma);
  if (after.txid >= horizon) return [];
  return prisma.$queryRaw<LogEvent[]>`${READER}
    SELECT id, txid, type, "conversationId", "userId", "messageId", seq, payload, "createdAt"
    FROM "Event"
    WHERE (txid, id) > (${after.txid}, ${after.id})
      AND txid < ${horizon}
      AND (${!scoped} OR "conversationId" = ANY(${conversations ?? []}::uuid[])
        OR ("userId" = ${user}::uuid AND ("conversationId" IS NULL OR ${outside === null}
          OR type = ANY(${outside ?? []}::text[]))))
      AND (${types === null} OR type = ANY(${types ?? []}::text[]))
    ORDER BY txid, id
    LIMIT ${limit}`;
}

/** How many events `readEvents` would return with no limit (an index range count, for totalCount). */
export async function countEvents(prisma: LogReader, after: Position, filter?: EventFilter): Promise<number> {
  const conversations = filter?.conversationIds ?? null;
  const user = filter?.userId ?? null;
  const types = filter?.types ?? null;
  const outside = filter?.outsideTypes ?? null;
  const scoped = filter !== undefined && (conversations !== null || user !== null);
  const horizon = await logHorizon(prisma);
  if (after.txid >= horizon) return 0;
  const [row] = await prisma.$queryRaw<{ n: number }[]>`${READER}
    SELECT count(*)::int AS n
    FROM "Event"
    WHERE (txid, id) > (${after.txid}, ${after.id})
      AND txid < ${horizon}
      AND (${!scoped} OR "conversationId" = ANY(${conversations ?? []}::uuid[])
        OR ("userId" = ${user}::uuid AND ("conversationId" IS NULL OR ${outside === null}
          OR type = ANY(${outside ?? []}::text[]))))
      AND (${types === null} OR type = ANY(${types ?? []}::text[]))`;
  return row?.n ?? 0;
}

/** The position every reader starting now begins after: all that has finished so far. */
export async function headPosition(prisma: LogReader): Promise<Position> {
  // Nothing below the horizon can still commit; (horizon, 0) sorts after all of it and before
  // anything newer.
  return { txid: await logHorizon(prisma), id: 0n };
}

/** A transaction snapshot: which transactions had committed when it was taken. */
export type Snapshot = {
  /** The position to read from: every event below it had committed when the snapshot was taken. */
  start: Position;
  /** True when transaction `txid` had committed (or aborted) when the snapshot was taken. */
  sawCommitted(txid: bigint): boolean;
};

/** PostgreSQL's current snapshot ("xmin:xmax:xip,..."), for starting a stream at "now" exactly. */
export async function currentSnapshot(prisma: PrismaClient): Promise<Snapshot> {
  // The horizon first: every event below it is visible to the (later) snapshot, so it is all history.
  const horizon = await logHorizon(prisma);
  const [row] = await prisma.$queryRaw<
    { snapshot: string }[]
  >`SELECT pg_current_snapshot()::text AS snapshot`;
  const [, xmax = "0", xip = ""] = (row?.snapshot ?? "0:0:").split(":");
  const running = new Set(xip ? xip.split(",").map((x) => BigInt(x)) : []);
  const max = BigInt(xmax);
  return {
    start: { txid: horizon, id: 0n },
    sawCommitted: (txid) => txid < max && !running.has(txid),
  };
}

/** How far the horizon trails: in transaction ids, and the age of the oldest open writer. */
export type HorizonLag = { transactions: number; oldestWriterSeconds: number };

/** For the `event_log_horizon_lag_transactions` and `event_log_oldest_writer_seconds` metrics. */
export async function horizonLag(prisma: PrismaClient): Promise<HorizonLag> {
  const [row] = await prisma.$queryRaw<{ transactions: bigint; seconds: number | null }[]>`
    SELECT greatest(pg_snapshot_xmax(pg_current_snapshot())::text::bigint - event_log_horizon(), 0) AS transactions,
           (SELECT extract(epoch FROM now() - min(a.xact_start))::float8
              FROM pg_stat_activity a
             WHERE a.pid IN (SELECT w.pid FROM event_log_writer_xids() w)) AS seconds`;
  return {
    transactions: Number(row?.transactions ?? 0n),
    oldestWriterSeconds: Math.max(0, row?.seconds ?? 0),
  };
}

/** Where the retained log begins: a cursor before this cannot be replayed fully. */
export async function prunedBefore(prisma: PrismaClient): Promise<Position> {
  const state = await prisma.eventLogState.findUnique({ where: { id: 1 } });
  return { txid: state?.prunedBeforeTxid ?? 0n, id: state?.prunedBeforeId ?? 0n };
}

export type PruneOptions = {
  /** Most events deleted per batch, each batch its own short transaction (default 5,000). */
  batchSize?: number;
  /** Stop starting new batches after this many milliseconds (what is left waits for the next run). */
  budgetMs?: number;
  /** Told after each batch has committed (awaited before the next batch). */
  onBatch?: (deleted: number) => void | Promise<void>;
};

/**
 * Deletes the events logged before `olderThan`, oldest first, in batches of at most `batchSize`,
 * each in its own short transaction (a range delete on the (txid, id) index), and records where the
 * log now begins, so resuming from a pruned cursor fails loudly (CURSOR_EXPIRED) instead of skipping
 * events. The retained log stays a suffix of the log: pruning stops at the first event that is
 * too young, and never reaches the horizon. Returns how many events were deleted.
 */
export async function pruneEvents(
  prisma: PrismaClient,
  olderThan: Date,
  options: PruneOptions = {},
): Promise<number> {
  const batchSize = Math.max(1, options.batchSize ?? 5_000);
  const deadline = options.budgetMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.budgetMs;
  let total = 0;
  for (;;) {
    const { deleted, more } = await prisma.$transaction(async (tx) => {
      // One pruner at a time (the state row's lock), and the position only moves forward.
      await tx.$executeRaw`INSERT INTO "EventLogState" (id) VALUES (1) ON CONFLICT (id) DO NOTHING`;
      const [state] = await tx.$queryRaw<{ txid: bigint; id: bigint }[]>`
        SELECT "prunedBeforeTxid" AS txid, "prunedBeforeId" AS id FROM "EventLogState" WHERE id = 1 FOR UPDATE`;
      const from = { txid: state?.txid ?? 0n, id: state?.id ?? 0n };
      const horizon = await logHorizon(tx);
      // The next batch in log order; the old ones are those before its first young event.
      const [batch] = await tx.$queryRaw<
        { scanned: number; old: number; txid: bigint | null; id: bigint | null }[]
      >`${READER}
        WITH batch AS (
          SELECT txid, id, "createdAt" >= ${olderThan} AS young
          FROM "Event"
          WHERE (txid, id) > (${from.txid}, ${from.id}) AND txid < ${horizon}
          ORDER BY txid, id
          LIMIT ${batchSize}),
        marked AS (SELECT txid, id, bool_or(young) OVER (ORDER BY txid, id) AS stop FROM batch),
        last AS (SELECT txid, id FROM marked WHERE NOT stop ORDER BY txid DESC, id DESC LIMIT 1)
        SELECT (SELECT count(*) FROM batch)::int AS scanned,
               (SELECT count(*) FROM marked WHERE NOT stop)::int AS old,
               (SELECT txid FROM last) AS txid, (SELECT id FROM last) AS id`;
      if (!batch || batch.txid === null || batch.id === null) return { deleted: 0, more: false };
      const until = { txid: batch.txid, id: batch.id };
      // Everything up to `until` lies below the horizon: it had all committed, nothing can join it.
      const deleted = await tx.$executeRaw`
        DELETE FROM "Event"
        WHERE (txid, id) > (${from.txid}, ${from.id}) AND (txid, id) <= (${until.txid}, ${until.id})`;
      await tx.$executeRaw`
        UPDATE "EventLogState" SET "prunedBeforeTxid" = ${until.txid}, "prunedBeforeId" = ${until.id}
        WHERE id = 1`;
      return { deleted, more: batch.old === batch.scanned && batch.scanned === batchSize };
    });
    total += deleted;
    if (deleted > 0) await options.onBatch?.(deleted);
    if (!more || Date.now() >= deadline) return total;
  }
}
