// Starts this instance's background workers: every queue's handler, plus the loops that feed
// queues from durable state (the webhook dispatcher). Each domain registers its own in one file.
import type { AppServices } from "../context.ts";
import { registerBroadcastWorkers } from "./broadcast.ts";
import { registerDeliveryWorkers } from "./delivery.ts";
import { registerScheduledWorkers } from "./scheduled.ts";
import { registerWebhookWorkers } from "./webhooks.ts";

/** What a registration may leave running besides pg-boss workers; stopped before the queue. */
export type StopWorker = () => Promise<void> | void;
export type RegisterWorkers = (services: AppServices) => Promise<StopWorker | undefined>;

const REGISTRATIONS: RegisterWorkers[] = [
  registerDeliveryWorkers,
  registerScheduledWorkers,
  registerBroadcastWorkers,
  registerWebhookWorkers,
];

/** Registers every worker (unless JOB_CONCURRENCY=0); returns a function that stops them. */
export async function startWorkers(services: AppServices): Promise<() => Promise<void>> {
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
