import { GraphQLError } from "graphql";
import { type Actor, isOperator, requireUser } from "../../core/actor.ts";
import { badInput, conflict, notFound } from "../../core/errors.ts";
import { cleanClientMessageId, cleanContent, cleanScheduledAt, isUuid } from "../../core/input.ts";
import { consume } from "../../core/limits.ts";
import type { Services } from "../../core/services.ts";
import { writeTransaction } from "../../events/writer.ts";
import type { ScheduledMessage } from "../../generated/prisma/client.ts";
import { requireUserRef } from "../users/users.ts";
import { clientMessageIdTaken, postMessage } from "./messages.ts";
import { requireMembership } from "./visibility.ts";

export type ScheduleMessageInput = {
  to?: string | null | undefined;
  conversationId?: string | null | undefined;
  content: string;
  clientMessageId?: string | null | undefined;
  scheduledAt: Date;
};

/**
 * `scheduleMessage`: the checks of sendMessage now (they run again when it fires), then the row and
 * its job. A clientMessageId already taken by a message or by another scheduled message of the
 * sender is a CONFLICT now: firing must never "replay" an older message and call that a send.
 */
export async function scheduleMessage(services: Services, actor: Actor, input: ScheduleMessageInput) {
  const senderId = requireUser(actor).id;
  await consume(services.limits.send, senderId);
  if ((input.to == null) === (input.conversationId == null)) {
    throw badInput("to", "Give exactly one of `to` and `conversationId`");
  }
  const content = cleanContent(input.content, services.config.maxMessageLength);
  const clientMessageId = cleanClientMessageId(input.clientMessageId);
  const scheduledAt = cleanScheduledAt(input.scheduledAt, "scheduledAt");
  let to: string | null = null;
  let conversationId: string | null = null;
  if (input.to != null) {
    const other = await requireUserRef(services, input.to, "to");
    if (other.id === senderId) throw badInput("to", "You cannot send a message to yourself");
    to = other.id;
  } else {
    conversationId = String(input.conversationId);
    await requireMembership(services.prisma, conversationId, senderId);
  }
  return writeTransaction(services, async (tx, _emit, enqueue) => {
    if (clientMessageId) {
      // One key, one message: serialize schedules of the same key, then look for earlier uses.
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`scheduled:${senderId}:${clientMessageId}`}, 0))`;
      const sent = await tx.message.findUnique({
        where: { senderId_clientMessageId: { senderId, clientMessageId } },
        select: { id: true },
      });
      const scheduled = await tx.scheduledMessage.findFirst({
        where: { senderId, clientMessageId, state: { in: ["PENDING", "FIRED"] } },
        select: { id: true },
      });
      if (sent || scheduled) throw clientMessageIdTaken();
    }
    const row = await tx.scheduledMessage.create({
      data: { senderId, to, conversationId, content, clientMessageId, scheduledAt },
    });
    await enqueue("message.fire", { scheduledMessageId: row.id }, { startAfter: scheduledAt });
    return row;
  });
}

/**
 * The `message.fire` job. Claims the row (PENDING -> FIRED under its lock, so a later cancel gets
 * CONFLICT), then sends for the sender through the same checks as sendMessage (membership may have
 * changed), with an idempotency key, so a retry after a crash between the claim and the send
 * returns the same message instead of sending twice. A check that fails now leaves it FAILED with
 * lastError.
 */
export async function fireScheduledMessage(
  services: Services,
  id: string,
  attempt: { retryCount: number; retryLimit: number },
): Promise<void> {
  const row = await writeTransaction(services, async (tx) => {
    const [locked] = await tx.$queryRaw<ScheduledMessage[]>`
      SELECT * FROM "ScheduledMessage" WHERE id = ${id}::uuid FOR UPDATE`;
    if (!locked) return null;
    if (locked.state === "PENDING") {
      await tx.scheduledMessage.update({ where: { id }, data: { state: "FIRED" } });
      return locked;
    }
    // FIRED without a message: an earlier run claimed it and did not finish.
    return locked.state === "FIRED" && locked.messageId === null ? locked : null;
  });
  if (!row) return;
  const fail = (lastError: string) =>
    services.prisma.scheduledMessage.updateMany({
      where: { id, state: "FIRED", messageId: null },
      data: { state: "FAILED", lastError: lastError.slice(0, 1000) },
    });
  try {
    const sender = await services.prisma.user.findUnique({
      where: { id: row.senderId },
      select: { id: true },
    });
    if (!sender) throw notFound("Sender");
    const { message, replayed } = await postMessage(services, row.senderId, {
      ...(row.to ? { to: row.to } : { conversationId: row.conversationId ?? "" }),
      content: row.content,
      clientMessageId: row.clientMessageId ?? `scheduled:${row.id}`,
    });
    // A replay is this job's own earlier send (after a crash) only if it was sent once due; an older
    // message with the key was sent by hand after scheduling, and is not this one.
    if (replayed && message.createdAt < row.scheduledAt) throw clientMessageIdTaken();
    await services.prisma.scheduledMessage.update({
      where: { id },
      data: { messageId: message.id, conversationId: message.conversationId, lastError: null },
    });
  } catch (error) {
    // Coded errors are the checks of sendMessage: final, no retry.
    if (error instanceof GraphQLError && error.extensions.code) {
      await fail(error.message);
      return;
    }
    if (attempt.retryCount >= attempt.retryLimit) await fail(String(error));
    throw error;
  }
}

/**
 * Cancels something scheduled that has not fired: a PENDING message (its sender), a SCHEDULED
 * notification or broadcast (API key or ADMIN). Fired already -> CONFLICT; unknown or not the
 * caller's -> NOT_FOUND.
 */
export async function cancelScheduled(
  services: Services,
  actor: Actor,
  input: { id: string },
): Promise<void> {
  const { id } = input;
  if (!isUuid(id)) throw notFound("Scheduled item");
  const admin = isOperator(actor);
  const viewerId = actor.kind === "user" ? actor.user.id : null;
  await writeTransaction(services, async (tx) => {
    const [message] = await tx.$queryRaw<Pick<ScheduledMessage, "state" | "senderId">[]>`
      SELECT state, "senderId" FROM "ScheduledMessage" WHERE id = ${id}::uuid FOR UPDATE`;
    if (message && message.senderId === viewerId) {
      if (message.state !== "PENDING")
        throw conflict(`The message is ${message.state.toLowerCase()} already`);
      await tx.scheduledMessage.update({ where: { id }, data: { state: "CANCELLED" } });
      return;
    }
    if (!admin) throw notFound("Scheduled item");
    const [notification] = await tx.$queryRaw<{ status: string }[]>`
      SELECT status FROM "Notification" WHERE id = ${id}::uuid FOR UPDATE`;
    if (notification) {
      if (notification.status !== "SCHEDULED") {
        throw conflict(`The notification is ${notification.status.toLowerCase()} already`);
      }
      await tx.notification.update({ where: { id }, data: { status: "CANCELLED" } });
      return;
    }
    // The broadcast part's `broadcast.fire` job checks this status under the same row lock.
    const cancelled = await tx.$executeRaw`
      UPDATE "Broadcast" SET status = 'CANCELLED' WHERE id = ${id}::uuid AND status = 'SCHEDULED'`;
    if (cancelled === 1) return;
    const [broadcast] = await tx.$queryRaw<{ status: string }[]>`
      SELECT status FROM "Broadcast" WHERE id = ${id}::uuid`;
    if (broadcast) throw conflict(`The broadcast is ${broadcast.status.toLowerCase()} already`);
    throw notFound("Scheduled item");
  });
}
