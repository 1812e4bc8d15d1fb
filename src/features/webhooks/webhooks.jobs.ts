// Webhook workers: the dispatcher that turns logged events into deliveries, and `webhook.deliver`,
// which POSTs one event to one endpoint, signed, and records the outcome in the delivery log.

import type { JobOf } from "../../core/jobs.ts";
import { ALLOW_PRIVATE_HINT, postGuarded, RefusedAddressError } from "../../core/outbound.ts";
import type { LogEvent } from "../../events/log.ts";
import { encodeCursor } from "../../events/position.ts";
import type { LiveServices as AppServices, RegisterWorkers } from "../../events/services.ts";
import type { Prisma } from "../../generated/prisma/client.ts";
import { WebhookDispatcher } from "./dispatcher.ts";
import { signatureHeaders } from "./sign.ts";
import { resolveEventData } from "./webhooks.ts";

const USER_AGENT = "messaging-api-webhooks/1";
/** Events the dispatcher reads per transaction. */
const DISPATCH_BATCH = 500;

export const registerWebhookWorkers: RegisterWorkers = async (services) => {
  await services.jobs.work("webhook.deliver", (job) => deliverWebhook(services, job));
  const dispatcher = new WebhookDispatcher(services, {
    pollMs: services.config.eventPollMs,
    batchSize: DISPATCH_BATCH,
  });
  dispatcher.start();
  return () => dispatcher.stop();
};

/** The body an endpoint receives: the event, its resume cursor, and its data with the object resolved. */
export async function webhookBody(services: Pick<AppServices, "prisma">, event: LogEvent) {
  const [data] = await resolveEventData(services.prisma, [event]);
  return {
    id: event.id.toString(),
    type: event.type,
    cursor: encodeCursor({ txid: event.txid, id: event.id }),
    createdAt: event.createdAt.toISOString(),
    data,
  };
}

/**
 * One attempt. Idempotent (pg-boss delivers at least once): a delivery already SENT is not sent
 * again. A failure is recorded, then rethrown so pg-boss retries it with backoff; on the last
 * attempt the delivery is DEAD.
 */
async function deliverWebhook(services: AppServices, job: JobOf<"webhook.deliver">): Promise<void> {
  const { prisma } = services;
  const delivery = await prisma.webhookDelivery.findUnique({
    where: { id: job.data.webhookDeliveryId },
    include: { endpoint: { select: { url: true, secret: true, active: true } } },
  });
  // Gone with its endpoint, or finished by an earlier run of this job.
  if (!delivery || delivery.state === "SENT" || delivery.state === "DEAD") return;
  // Never overwrite SENT: a stale duplicate run must not turn a success into a failure.
  const finish = (data: Prisma.WebhookDeliveryUpdateManyMutationInput) =>
    prisma.webhookDelivery.updateMany({ where: { id: delivery.id, state: { not: "SENT" } }, data });
  if (!delivery.endpoint.active) {
    await finish({ state: "FAILED", lastError: "The endpoint was deactivated before delivery" });
    return;
  }
  const [event] = await prisma.$queryRaw<LogEvent[]>`
    SELECT id, txid, type, "conversationId", "userId", "messageId", seq, payload, "createdAt"
    FROM "Event" WHERE id = ${delivery.eventId}`;
  if (!event) {
    await finish({ state: "DEAD", lastError: "The event was pruned from the log before it could be sent" });
    return;
  }

  const body = JSON.stringify(await webhookBody(services, event));
  const { timeoutMs, allowPrivate } = services.config.webhooks;
  let status: number | null = null;
  let error: string | null = null;
  try {
    // Checks the address again at connect time (DNS may have changed since the URL was accepted),
    // and follows no redirect: a redirect is an answer the endpoint's owner should fix. Only the
    // status is kept: the answer's body is the endpoint's, not something to store and show to
    // every API-key holder (or a way to read an internal service through the delivery log).
    const response = await postGuarded(delivery.endpoint.url, {
      headers: {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-event": event.type,
        ...signatureHeaders(delivery.endpoint.secret, delivery.id, body),
      },
      body,
      timeoutMs,
      allowPrivate,
    });
    status = response.status;
    if (status < 200 || status > 299) error = `HTTP ${status}`;
  } catch (e) {
    error =
      e instanceof RefusedAddressError
        ? `Refused: ${e.message}${/non-public address/.test(e.message) ? ` (${ALLOW_PRIVATE_HINT})` : ""}`
        : e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError")
          ? `No answer within ${timeoutMs} ms`
          : `Request failed: ${e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e)}`;
  }

  if (error === null) {
    await finish({
      state: "SENT",
      attempts: { increment: 1 },
      responseStatus: status,
      lastError: null,
      deliveredAt: new Date(),
    });
    return;
  }
  await finish({
    state: job.retryCount < job.retryLimit ? "RETRYING" : "DEAD",
    attempts: { increment: 1 },
    responseStatus: status,
    lastError: error,
  });
  throw new Error(error);
}
