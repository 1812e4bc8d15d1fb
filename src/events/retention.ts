// Event-log retention: a durable `events.prune` job (pg-boss) deletes events older than
// EVENT_RETENTION_DAYS, oldest first, in batches that are each their own short transaction
// (log.ts pruneEvents), so the log is never locked for long and readers keep going meanwhile.
// Resuming from a cursor that was pruned answers CURSOR_EXPIRED (stream.ts).
//
// Scheduling: every instance that runs workers asks for one job per hour slot at start and every
// 15 minutes; pg-boss's throttle (one singleton key per slot) lets one of them through, so the
// fleet prunes about once an hour, whichever instances are up, and a run that fails is retried.
import { pruneEvents } from "./log.ts";
import type { RegisterWorkers } from "./services.ts";

/** At most one retention run per this many seconds, fleet-wide. */
export const RETENTION_SLOT_SECONDS = 60 * 60;
const ASK_EVERY_MS = 15 * 60 * 1000;
/** One run stops starting batches after this long (pg-boss expires a job after 60 s); the next run goes on. */
const RUN_BUDGET_MS = 30_000;
const DAY_MS = 24 * 60 * 60 * 1000;

export const registerRetentionWorker: RegisterWorkers = async (services) => {
  const { days, batchSize } = services.config.eventRetention;
  if (days <= 0) return undefined;
  await services.jobs.work(
    "events.prune",
    async () => {
      await pruneEvents(services.prisma, new Date(Date.now() - days * DAY_MS), {
        batchSize,
        budgetMs: RUN_BUDGET_MS,
        onBatch: (deleted) => {
          services.metrics?.eventsPruned.inc(deleted);
          services.metrics?.eventPruneBatches.inc();
        },
      });
    },
    1,
  );
  const ask = () =>
    services.jobs.sendOncePer("events.prune", {}, RETENTION_SLOT_SECONDS).catch((error: unknown) => {
      console.warn(`event log retention not scheduled (will ask again): ${String(error)}`);
      return null;
    });
  await ask();
  const timer = setInterval(() => void ask(), ASK_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
};
