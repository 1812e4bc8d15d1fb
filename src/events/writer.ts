// The one writer of the event log (DESIGN.md, "The spine"). Every state change that others may
// react to goes through `writeTransaction`: the change, its events and its jobs commit together,
// and the events are announced to every instance only after the commit. Two shapes use the same
// path with other statements:
// - bulk: `emit.bulk` appends many events of one type in one statement (broadcast fan-out);
// - the `send_message` SQL function (prisma/migrations/*_send_message_function) appends a message's
//   event in the statement that writes the message, for speed; `writeLoggedStatement` runs it and
//   announces its position after the commit, exactly as writeTransaction does.
// Nothing else inserts into "Event" (test/event-log-writer.test.ts checks the source tree).
// Both register as writers (event_log_register()) before their transaction has an id, and the
// database refuses appends by anyone who did not: the log's horizon (events/log.ts) waits for
// registered writers only, not for every transaction on the server.
import type { EnqueueOptions, JobMap, JobName } from "../core/jobs.ts";
import type { PubSub } from "../core/pubsub.ts";
import type { Services } from "../core/services.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import type { EventType } from "./log.ts";
import { comparePositions, type Position, toJson } from "./position.ts";

export type EventInput = {
  type: EventType;
  conversationId?: string | null;
  userId?: string | null;
  messageId?: string | null;
  seq?: number | null;
  payload?: Prisma.InputJsonObject;
};

/** One event per row, all of one type, whose relative order carries no meaning (fan-out). */
export type BulkEvents = {
  type: EventType;
  rows: { userId?: string | null; conversationId?: string | null; payload: Prisma.InputJsonObject }[];
};

export type Emit = {
  (event: EventInput): void;
  /** Many events of one type, appended in one statement at this point of the transaction. */
  bulk(events: BulkEvents): void;
  /** An event a statement of this transaction appended itself (send_message): announce it too. */
  logged(position: Position): void;
  /**
   * Appends what was emitted so far, now: before a statement that appends its own event, so the
   * log keeps the order in which things happened.
   */
  flush(): Promise<void>;
};

/** Enqueues durable jobs in the transaction; this instance's workers are woken after the commit. */
export type Enqueue = {
  <N extends JobName>(name: N, data: JobMap[N], options?: EnqueueOptions): Promise<void>;
  many<N extends JobName>(name: N, jobs: { data: JobMap[N]; options?: EnqueueOptions }[]): Promise<void>;
};

type WriterServices = Pick<Services, "prisma" | "pubsub" | "jobs">;

type Pending = { one: EventInput } | { bulk: BulkEvents } | { logged: Position };

/**
 * The spine of every state change: run `fn` in one transaction, append the events it emitted to
 * the log in that same transaction (in emit order), and announce them only after the commit, so a
 * rolled-back change never reaches a subscriber.
 */
export async function writeTransaction<T>(
  services: WriterServices,
  fn: (tx: Prisma.TransactionClient, emit: Emit, enqueue: Enqueue) => Promise<T>,
): Promise<T> {
  const queues = new Set<JobName>();
  const { result, logged } = await services.prisma.$transaction(async (tx) => {
    queues.clear(); // a retried transaction starts over
    // First, before the transaction has an id: readers then never pass it while it may still append
    // (prisma/migrations/*_event_log_writers).
    await tx.$executeRaw`SELECT event_log_register()`;
    const pending: Pending[] = [];
    const logged: Position[] = [];
    const emit: Emit = Object.assign((one: EventInput) => void pending.push({ one }), {
      bulk: (bulk: BulkEvents) => void pending.push({ bulk }),
      logged: (position: Position) => void pending.push({ logged: position }),
      flush: async () => {
        logged.push(...(await append(tx, pending.splice(0))));
      },
    });
    const enqueue: Enqueue = Object.assign(
      async <N extends JobName>(name: N, data: JobMap[N], options?: EnqueueOptions) => {
        queues.add(name);
        await services.jobs.enqueue(tx, name, data, options);
      },
      {
        many: async <N extends JobName>(name: N, jobs: { data: JobMap[N]; options?: EnqueueOptions }[]) => {
          if (jobs.length) queues.add(name);
          await services.jobs.enqueueMany(tx, name, jobs);
        },
      },
    );
    const result = await fn(tx, emit, enqueue);
    await emit.flush();
    return { result, logged };
  });
  announce(services.pubsub, logged);
  for (const name of queues) services.jobs.wake(name);
  return result;
}

/**
 * The single-statement form of the writer, for `send_message`: the statement (its own implicit
 * transaction) writes the change and appends its event; its position is announced after it returns.
 */
export async function writeLoggedStatement<T extends { eventTxid: bigint; eventId: bigint }>(
  services: Pick<Services, "pubsub">,
  statement: () => Promise<T>,
): Promise<T> {
  const row = await statement();
  announce(services.pubsub, [{ txid: row.eventTxid, id: row.eventId }]);
  return row;
}

/**
 * Appends inside the caller's transaction. Single events get one INSERT each, in order: a multi-row
 * insert does not promise that ids follow the rows, and readers rely on the log order within a
 * transaction (conversation created before its members). Bulk events need no order among themselves.
 */
async function append(tx: Prisma.TransactionClient, pending: Pending[]): Promise<Position[]> {
  const positions: Position[] = [];
  for (const item of pending) {
    if ("logged" in item) {
      positions.push(item.logged);
    } else if ("one" in item) {
      const e = item.one;
      positions.push(
        await tx.event.create({
          data: {
            type: e.type,
            conversationId: e.conversationId ?? null,
            userId: e.userId ?? null,
            messageId: e.messageId ?? null,
            seq: e.seq ?? null,
            payload: e.payload ?? {},
          },
          select: { id: true, txid: true },
        }),
      );
    } else if (item.bulk.rows.length) {
      const { type, rows } = item.bulk;
      const [max] = await tx.$queryRaw<{ txid: bigint | null; id: bigint | null }[]>`
        WITH logged AS (
          INSERT INTO "Event" (type, "userId", "conversationId", payload)
          SELECT ${type}, u, c, p
          FROM unnest(${rows.map((r) => r.userId ?? null)}::uuid[],
                      ${rows.map((r) => r.conversationId ?? null)}::uuid[],
                      ${rows.map((r) => JSON.stringify(r.payload))}::jsonb[]) AS t(u, c, p)
          RETURNING txid, id)
        SELECT max(txid) AS txid, max(id) AS id FROM logged`;
      if (max?.txid != null && max.id != null) positions.push({ txid: max.txid, id: max.id });
    }
  }
  return positions;
}

/**
 * Tells every instance that the log grew. Never throws and is not awaited: the events are durable
 * already, and log readers also poll, so a lost notice (Redis down) only delays delivery.
 */
function announce(pubsub: PubSub, positions: readonly Position[]): void {
  const newest = positions.reduce<Position | null>(
    (max, p) => (max === null || comparePositions(p, max) > 0 ? p : max),
    null,
  );
  if (!newest) return;
  pubsub.onAnnounce?.(positions.length);
  pubsub.publish("log", toJson(newest)).catch((error: unknown) => {
    console.warn(`log notice not published (subscribers will catch up by polling): ${String(error)}`);
  });
}
