// Workers of out-of-app delivery: one provider send per `delivery.send` job, the daily digest per
// user, and scheduled notifications coming due. Every handler is idempotent (see each function).

import type { RegisterWorkers } from "../../events/services.ts";
import { runDigest } from "./delivery/digest.ts";
import { sendDelivery } from "./delivery/send.ts";
import { fireNotification } from "./notifications.ts";

export const registerDeliveryWorkers: RegisterWorkers = async (services) => {
  await services.jobs.work("delivery.send", (job) =>
    sendDelivery(services, job.data.deliveryId, { retryCount: job.retryCount, retryLimit: job.retryLimit }),
  );
  await services.jobs.work("digest.send", async (job) => {
    const result = await runDigest(services, job.data.userId, {
      retryCount: job.retryCount,
      retryLimit: job.retryLimit,
    });
    // A retryable failure: the queue runs this job again after its backoff (or keeps it failed).
    if (result.error) throw new Error(result.error);
  });
  await services.jobs.work("notification.fire", (job) => fireNotification(services, job.data.notificationId));
  return undefined;
};
