// Workers of scheduled messages (scheduled notifications fire in ./delivery.ts, broadcasts in
// ./broadcast.ts).
import { fireScheduledMessage } from "../domain/schedule.ts";
import type { RegisterWorkers } from "./workers.ts";

export const registerScheduledWorkers: RegisterWorkers = async (services) => {
  await services.jobs.work("message.fire", (job) =>
    fireScheduledMessage(services, job.data.scheduledMessageId, {
      retryCount: job.retryCount,
      retryLimit: job.retryLimit,
    }),
  );
  return undefined;
};
