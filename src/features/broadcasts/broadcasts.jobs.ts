// Broadcast workers: `broadcast.fire` starts a scheduled broadcast, `broadcast.fanout` adds one batch
// of recipients and enqueues the next. Both are idempotent (see src/domain/broadcasts.ts).

import type { RegisterWorkers } from "../../events/services.ts";
import { fanoutBatch, fireBroadcast, resumeBroadcasts } from "./broadcasts.ts";

export const registerBroadcastWorkers: RegisterWorkers = async (services) => {
  await services.jobs.work("broadcast.fire", (job) => fireBroadcast(services, job.data.broadcastId));
  await services.jobs.work("broadcast.fanout", (job) => fanoutBatch(services, job.data.broadcastId));
  // After the handlers exist, so the jobs it enqueues are picked up at once by this instance.
  const resumed = await resumeBroadcasts(services);
  if (resumed > 0) console.log(`broadcasts: resumed ${resumed} unfinished fan-out(s) or due schedule(s)`);
  return undefined;
};
