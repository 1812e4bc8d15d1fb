import type { EnqueueOptions, JobMap, JobName } from "../core/jobs.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import type { Context } from "../schema/context.ts";
import { appendEvents, type EventInput } from "./log.ts";
import { comparePositions, type Position, toJson } from "./position.ts";
import type { PubSub } from "./pubsub.ts";

export type Emit = (event: EventInput) => void;

/** Enqueues durable jobs in the transaction; this instance's workers are woken after the commit. */
export type Enqueue = {
  <N extends JobName>(name: N, data: JobMap[N], options?: EnqueueOptions): Promise<void>;
  many<N extends JobName>(name: N, jobs: { data: JobMap[N]; options?: EnqueueOptions }[]): Promise<void>;
};

/**
 * The spine of every state change (DESIGN.md): run `fn` in one transaction, append the events it
 * emitted to the log in that same transaction, and announce them only after the commit, so a
 * rolled-back change never reaches a subscriber.
 */
export async function writeTransaction<T>(
  ctx: Pick<Context, "prisma" | "pubsub" | "jobs">,
  fn: (tx: Prisma.TransactionClient, emit: Emit, enqueue: Enqueue) => Promise<T>,
): Promise<T> {
  const queues = new Set<JobName>();
  const { result, logged } = await ctx.prisma.$transaction(async (tx) => {
    queues.clear(); // a retried transaction starts over
    const pending: EventInput[] = [];
    const enqueue: Enqueue = Object.assign(
      async <N extends JobName>(name: N, data: JobMap[N], options?: EnqueueOptions) => {
        queues.add(name);
        await ctx.jobs.enqueue(tx, name, data, options);
      },
      {
        many: async <N extends JobName>(name: N, jobs: { data: JobMap[N]; options?: EnqueueOptions }[]) => {
          if (jobs.length) queues.add(name);
          await ctx.jobs.enqueueMany(tx, name, jobs);
        },
      },
    );
    const result = await fn(tx, (e) => pending.push(e), enqueue);
    const logged = await appendEvents(tx, pending);
    return { result, logged };
  });
  announce(ctx.pubsub, logged);
  for (const name of queues) ctx.jobs.wake(name);
  return result;
}

/**
 * Tells every instance that the log grew. Never throws and is not awaited: the events are durable
 * already, and log readers also poll, so a lost notice (Redis down) only delays delivery.
 */
export function announce(pubsub: PubSub, positions: readonly Position[]): void {
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
