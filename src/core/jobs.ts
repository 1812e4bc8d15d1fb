// The durable job queue: pg-boss on the application's own database (PostgreSQL, or the embedded
// PGlite through the same executor), so a job is enqueued in the same transaction as the state that
// asks for it, and a crash or restart never loses it.
import PgBoss from "pg-boss";
import type { Prisma } from "../generated/prisma/client.ts";
import type { Database, SqlExecutor } from "./db.ts";

/**
 * Every queue and the data its jobs carry. Handlers must be idempotent: pg-boss delivers at least
 * once (a worker killed after its transaction committed but before the job was marked complete
 * runs the job again), so each handler checks the durable state it moves before acting.
 */
export type JobMap = {
  /** Adds the next batch of a broadcast's recipients. */
  "broadcast.fanout": { broadcastId: string };
  /** Starts a scheduled broadcast. */
  "broadcast.fire": { broadcastId: string };
  /** Sends one notification to one target through its provider. */
  "delivery.send": { deliveryId: string };
  /** Sends a user's daily digest of the deliveries that waited for it. */
  "digest.send": { userId: string };
  /** Delivers a scheduled notification. */
  "notification.fire": { notificationId: string };
  /** Sends a scheduled message. */
  "message.fire": { scheduledMessageId: string };
  /** Calls one webhook endpoint with one event. */
  "webhook.deliver": { webhookDeliveryId: string };
  /** Deletes event-log rows older than EVENT_RETENTION_DAYS, in batches (events/retention.ts). */
  "events.prune": Record<string, never>;
};

export type JobName = keyof JobMap;
export const JOB_NAMES = [
  "broadcast.fanout",
  "broadcast.fire",
  "delivery.send",
  "digest.send",
  "notification.fire",
  "message.fire",
  "webhook.deliver",
  "events.prune",
] as const satisfies readonly JobName[];

export type EnqueueOptions = {
  /** Higher runs first (pg-boss priority). */
  priority?: number;
  startAfter?: Date;
  /** Attempts in all, the first included (default JOB_MAX_ATTEMPTS, 3). */
  maxAttempts?: number;
  /** Dedupe: at most one queued job with this key per queue. */
  singletonKey?: string;
};

export type JobOf<N extends JobName> = PgBoss.JobWithMetadata<JobMap[N]>;

export type Handler<N extends JobName> = (job: JobOf<N>) => Promise<void>;

export type JobsConfig = {
  /** Attempts per job, the first included. */
  maxAttempts: number;
  /** First retry delay in seconds; doubles each attempt (pg-boss retryBackoff). */
  retryDelaySeconds: number;
  /** How often an idle worker looks for new jobs; local enqueues wake workers at once. */
  pollSeconds: number;
  /** Workers per queue in this process (0: this instance enqueues only, runs nothing). */
  concurrency: number;
};

/** pg-boss's executor over a Prisma transaction: the job commits or rolls back with it. */
export const transactionExecutor = (tx: Prisma.TransactionClient): SqlExecutor => ({
  executeSql: async (text, values) => ({
    rows: await tx.$queryRawUnsafe<unknown[]>(text, ...(values ?? [])),
  }),
});

const SCHEMA = "pgboss";

/**
 * How long a job may run before pg-boss takes its worker for dead and retries it. Work that claims
 * rows for the length of a job (the digest's claim) holds them no longer than this.
 */
export const JOB_EXPIRE_SECONDS = 60;

export class Jobs {
  private readonly workers = new Map<JobName, string[]>();
  private stopped = false;

  private constructor(
    private readonly boss: PgBoss,
    private readonly config: JobsConfig,
  ) {}

  /** Starts pg-boss (creating or migrating its schema) and makes sure every queue exists. */
  static async open(db: Database, config: JobsConfig): Promise<Jobs> {
    const boss = new PgBoss({
      ...(db.url ? { connectionString: db.url, max: 4 } : { db: db.sql as PgBoss.Db }),
      schema: SCHEMA,
      application_name: "messaging-jobs",
      retryLimit: config.maxAttempts - 1,
      retryDelay: config.retryDelaySeconds,
      retryBackoff: true,
      // A job whose worker died is retried once this passes (pg-boss marks it expired).
      expireInSeconds: JOB_EXPIRE_SECONDS,
      // Completed jobs leave after a day; failed ones (dead) stay a week for inspection.
      archiveCompletedAfterSeconds: 24 * 60 * 60,
      deleteAfterDays: 7,
      pollingIntervalSeconds: config.pollSeconds,
      // No pg-boss cron schedules here (scheduled sends are jobs with startAfter), so no cron
      // polling; an instance that runs no workers leaves maintenance to those that do.
      schedule: false,
      supervise: config.concurrency > 0,
    });
    boss.on("error", (error: Error) => console.error(`job queue error: ${error.message}`));
    await boss.start();
    for (const name of JOB_NAMES) await createQueueOnce(boss, name, config);
    return new Jobs(boss, config);
  }

  /**
   * Runs `handler` for queue `name` on this instance: one pg-boss worker fetches up to
   * `concurrency` jobs at a time and runs them side by side. A job that throws is failed on its own
   * (pg-boss retries it with backoff, or leaves it `failed` with the error as output once its
   * attempts are spent); the others complete. One polling loop per queue, not one per job slot.
   */
  async work<N extends JobName>(name: N, handler: Handler<N>, concurrency = this.config.concurrency) {
    const id: string = await this.boss.work<JobMap[N]>(
      name,
      { batchSize: Math.max(1, concurrency), includeMetadata: true },
      async (batch) => {
        // pg-boss waits a whole poll interval after every batch, even a full one, so a backlog
        // would drain at `concurrency` jobs per JOB_POLL_SECONDS. Fetch again right after this
        // batch instead; once the queue is empty that costs one empty fetch.
        if (batch.length > 0) this.boss.notifyWorker(id);
        const results = await Promise.allSettled(batch.map((job) => handler(job)));
        for (const [i, result] of results.entries()) {
          const job = batch[i];
          if (result.status === "rejected" && job) {
            const error = result.reason instanceof Error ? result.reason : new Error(String(result.reason));
            await this.boss.fail(name, job.id, { message: error.message });
          }
        }
      },
    );
    this.workers.set(name, [...(this.workers.get(name) ?? []), id]);
  }

  /** Enqueues inside `tx`: the job exists if and only if the transaction commits. */
  async enqueue<N extends JobName>(
    tx: Prisma.TransactionClient,
    name: N,
    data: JobMap[N],
    options: EnqueueOptions = {},
  ): Promise<string | null> {
    return this.boss.send(name, data, { ...this.sendOptions(options), db: transactionExecutor(tx) });
  }

  /** Enqueues many jobs of one queue in one statement, inside `tx`. */
  async enqueueMany<N extends JobName>(
    tx: Prisma.TransactionClient,
    name: N,
    jobs: { data: JobMap[N]; options?: EnqueueOptions }[],
  ): Promise<void> {
    if (jobs.length === 0) return;
    await this.boss.insert(
      jobs.map(({ data, options = {} }) => ({
        name,
        data,
        ...this.sendOptions(options),
        startAfter: options.startAfter?.toISOString(),
      })),
      { db: transactionExecutor(tx) },
    );
  }

  /**
   * Enqueues a job of `name` now (outside any transaction) unless one was already enqueued in the
   * current `everySeconds` slot, by any instance: pg-boss's throttle (a unique singleton key per
   * slot). For periodic maintenance every instance may ask for; at most one runs per slot.
   */
  async sendOncePer<N extends JobName>(
    name: N,
    data: JobMap[N],
    everySeconds: number,
  ): Promise<string | null> {
    const id = await this.boss.send(name, data, {
      ...this.sendOptions({}),
      singletonKey: name,
      singletonSeconds: everySeconds,
    });
    if (id) this.wake(name);
    return id;
  }

  /** Wakes this instance's idle workers of `name` (after a commit that enqueued for them). */
  wake(name: JobName): void {
    if (this.stopped) return;
    for (const id of this.workers.get(name) ?? []) this.boss.notifyWorker(id);
  }

  /** Jobs waiting or running, all queues (the queue depth metric). */
  async depth(): Promise<number> {
    let total = 0;
    for (const name of JOB_NAMES) total += await this.boss.getQueueSize(name);
    return total;
  }

  /** The pg-boss job (state, retries, output = last error) behind a job id, for tests and admin. */
  getJob<N extends JobName>(name: N, id: string) {
    return this.boss.getJobById<JobMap[N]>(name, id, { includeArchive: true });
  }

  /** Stops fetching, waits (bounded) for running jobs, then closes pg-boss's connections. */
  async stop(timeoutMs = 5_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.boss.stop({ graceful: true, wait: true, timeout: timeoutMs, close: true });
  }

  /**
   * Retry settings go on every job: pg-boss takes a queue's settings from whoever created it first,
   * so changing JOB_MAX_ATTEMPTS or JOB_RETRY_DELAY_SECONDS later would otherwise not apply.
   */
  private sendOptions(options: EnqueueOptions) {
    return {
      ...(options.priority !== undefined ? { priority: options.priority } : {}),
      ...(options.startAfter ? { startAfter: options.startAfter } : {}),
      retryLimit: (options.maxAttempts ?? this.config.maxAttempts) - 1,
      retryDelay: this.config.retryDelaySeconds,
      retryBackoff: true,
      ...(options.singletonKey ? { singletonKey: options.singletonKey } : {}),
    };
  }
}

/**
 * Creates a queue unless it exists. pg-boss 10 creates each queue's partition table in a statement
 * that deadlocks (40P01) with the same statement of another instance starting at the same moment on
 * a fresh database; PostgreSQL then aborts one of them, which is safe to run again.
 */
async function createQueueOnce(boss: PgBoss, name: JobName, config: JobsConfig): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    if (await boss.getQueue(name)) return;
    try {
      await boss.createQueue(name, {
        name,
        retryLimit: config.maxAttempts - 1,
        retryDelay: config.retryDelaySeconds,
        retryBackoff: true,
      });
      return;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if ((code !== "40P01" && code !== "23505") || attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 100 * attempt));
    }
  }
}
