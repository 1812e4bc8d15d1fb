// One provider delivery (the `delivery.send` job): send, then record the outcome on the Delivery
// row. At-least-once: a repeated job finds the row final and does nothing; the outcome is written
// with a guard on the state, so two runs can never count one attempt twice or flip a final state.

import type { Services as AppServices } from "../../../core/services.ts";
import { writeTransaction } from "../../../events/writer.ts";
import type { DeliveryState, Prisma } from "../../../generated/prisma/client.ts";
import { recipientDeliveryChanged } from "./broadcast-progress.ts";
import { providersFor } from "./providers/index.ts";
import { ProviderError } from "./providers/types.ts";

/** States no later attempt may leave. */
export const FINAL_STATES: readonly DeliveryState[] = ["SENT", "FAILED", "DEAD"];

export type AttemptInfo = {
  /** Retries already made before this attempt (pg-boss retryCount). */
  retryCount: number;
  /** Retries allowed in all (pg-boss retryLimit). */
  retryLimit: number;
};

type Outcome =
  | { kind: "sent"; providerMessageId: string | null }
  | { kind: "failed"; error: string; retryable: boolean };

/**
 * Runs one attempt of a delivery. Throws after a retryable failure (so the queue retries it with
 * backoff, or marks the job failed after the last attempt); returns after a success or a permanent
 * failure.
 */
export async function sendDelivery(
  services: Pick<AppServices, "prisma" | "pubsub" | "jobs" | "config">,
  deliveryId: string,
  attempt: AttemptInfo,
): Promise<void> {
  const delivery = await services.prisma.delivery.findUnique({
    where: { id: deliveryId },
    include: { notification: true, target: true },
  });
  if (!delivery || FINAL_STATES.includes(delivery.state)) return;
  const { notification, target } = delivery;
  const provider = providersFor(services.config)[target.kind];
  let outcome: Outcome;
  if (!provider) {
    outcome = {
      kind: "failed",
      error: `no ${target.kind.toLowerCase()} provider configured`,
      retryable: false,
    };
  } else {
    try {
      const result = await provider.send({
        deliveryId: delivery.id,
        channel: target.kind,
        to: target.address,
        title: notification.title,
        body: notification.body,
        priority: notification.priority,
        actionUrl: notification.actionUrl,
        data: notification.data,
      });
      outcome = { kind: "sent", providerMessageId: result.providerMessageId };
    } catch (error) {
      outcome =
        error instanceof ProviderError
          ? { kind: "failed", error: error.message, retryable: error.retryable }
          : {
              kind: "failed",
              error: error instanceof Error ? error.message : String(error),
              retryable: true,
            };
    }
  }
  const lastAttempt = attempt.retryCount >= attempt.retryLimit;
  const state: DeliveryState =
    outcome.kind === "sent" ? "SENT" : !outcome.retryable ? "FAILED" : lastAttempt ? "DEAD" : "RETRYING";
  const data: Prisma.DeliveryUpdateManyMutationInput =
    outcome.kind === "sent"
      ? {
          state,
          sentAt: new Date(),
          providerMessageId: outcome.providerMessageId,
          attempts: { increment: 1 },
        }
      : { state, lastError: outcome.error.slice(0, 1000), attempts: { increment: 1 } };
  await writeTransaction(services, async (tx, emit) => {
    const { count } = await tx.delivery.updateMany({
      where: { id: delivery.id, state: { notIn: [...FINAL_STATES] } },
      data,
    });
    if (count === 0) return; // another run of this job finished it first
    if (state === "FAILED" || state === "DEAD") {
      emit({
        type: "notification.failed",
        userId: delivery.userId,
        payload: {
          notificationId: delivery.notificationId,
          deliveryId: delivery.id,
          channel: delivery.channel,
          state,
          error: outcome.kind === "failed" ? outcome.error : "",
        },
      });
    }
    if (delivery.broadcastId) {
      await recipientDeliveryChanged(tx, emit, delivery.broadcastId, delivery.userId);
    }
  });
  // Retryable failures fail the job too: pg-boss retries it, or after the last attempt keeps it
  // `failed` with this error as its output (the queue's dead state beside the row's DEAD).
  if ((state === "RETRYING" || state === "DEAD") && outcome.kind === "failed") throw new Error(outcome.error);
}
