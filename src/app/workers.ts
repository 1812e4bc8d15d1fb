// Starts this instance's background workers: every queue's handler, plus the loops that feed
// queues from durable state (the webhook dispatcher), and the event log's retention. Each domain
// registers its own in one file.

import { registerRetentionWorker } from "../events/retention.ts";
import type { LiveServices, RegisterWorkers, StopWorker } from "../events/services.ts";
import { registerBroadcastWorkers } from "../features/broadcasts/broadcasts.jobs.ts";
import { registerScheduledWorkers } from "../features/messaging/scheduled-messages.jobs.ts";
import { registerDeliveryWorkers } from "../features/notifications/notifications.jobs.ts";
import { registerWebhookWorkers } from "../features/webhooks/webhooks.jobs.ts";

const REGISTRATIONS: RegisterWorkers[] = [
  registerDeliveryWorkers,
  registerScheduledWorkers,
  registerBroadcastWorkers,
  registerWebhookWorkers,
  registerRetentionWorker,
];

/** Registers every worker (unless JOB_CONCURRENCY=0); returns a function that stops them. */
export async function startWorkers(services: LiveServices): Promise<() => Promise<void>> {
  if (services.config.jobs.concurrency === 0) return async () => {};
  const stops: StopWorker[] = [];
  for (const register of REGISTRATIONS) {
    const stop = await register(services);
    if (stop) stops.push(stop);
  }
  return async () => {
    for (const stop of stops.reverse()) await stop();
  };
}
