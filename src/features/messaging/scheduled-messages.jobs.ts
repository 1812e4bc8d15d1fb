// Workers of scheduled messages (scheduled notifications fire in ./delivery.ts, broadcasts in
// ./broadcast.ts).

import type { RegisterWorkers } from "../../events/services.ts";
import { fireScheduledMessage } from "./scheduled-messages.ts";

export const registerScheduledWorkers: RegisterWorkers = async (services) => {
  await services.jobs.work("message.fire", (job) =>
    fireScheduledMessage(services, job.data.scheduledMessageId, {
      retryCount: job.retryCount,
      retryLimit: job.retryLimit,
    }),
  );
  return undefined;
};
