// Scheduled sends: messages kept until their time (a durable `message.fire` job sends them through
// sendMessage, as their sender), and `cancelScheduled` for messages, notifications and broadcasts.
// Fire and cancel both lock the row and check its state, so exactly one of them wins.
import { GraphQLError } from "graphql";
import { badInput, conflict, notFound } from "../../core/errors.ts";
import { cleanClientMessageId, cleanContent, isUuid } from "../../core/input.ts";
import { consume } from "../../core/limits.ts";
import { writeTransaction } from "../../events/transaction.ts";
import type { ScheduledMessage } from "../../generated/prisma/client.ts";
import { type AppServices, buildContext, type Context } from "../../schema/context.ts";
import { requireUserRef } from "../users/users.ts";
import { sendMessage } from "./messages.ts";
import { requireMembership } from "./visibility.ts";

const YEAR_MS = 366 * 24 * 60 * 60 * 1000;

/** A time in the future and at most a year away, or BAD_USER_INPUT on `field`. */
export function cleanScheduledAt(value: Date, field: string): Date {
  const t = value.getTime();
  if (Number.isNaN(t) || t <= Date.now()) throw badInput(field, `${field} must be in the future`);
  if (t > Date.now() + YEAR_MS) throw badInput(field, `${field} must be at most a year from now`);
  return value;
}

export type ScheduleMessageArgs = {
  to?: string | null | undefined;
  conversationId?: string | null | undefined;
  content: string;
  clientMessageId?: string | null | undefined;
  scheduledAt: Date;
};

/** The checks of sendMessage now (they run again when it fires), then the row and its job. */
export async function scheduleMessage(ctx: Context, senderId: string, args: ScheduleMessageArgs) {
  await consume(ctx.limits.send, senderId);
  if ((args.to == null) === (args.conversationId == null)) {
    throw badInput("to", "Give exactly one of `to` and `conversationId`");
  }
  const content = cleanContent(args.content, ctx.config.maxMessageLength);
  const clientMessageId = cleanClientMessageId(args.clientMessageId);
  const scheduledAt = cleanScheduledAt(args.scheduledAt, "scheduledAt");
  let to: string | null = null;
  let conversationId: string | null = null;
  if (args.to != null) {
    const other = await requireUserRef(ctx, args.to, "to");
    if (other.id === senderId) throw badInput("to", "You cannot send a message to yourself");
    to = other.id;
  } else {
    conversationId = String(args.conversationId);
    await requireMembership(ctx, conversationId, senderId);
  }
  return writeTransaction(ctx, async (tx, _emit, enqueue) => {
    const row = await tx.scheduledMessage.create({
      data: { senderId, to, conversationId, content, clientMessageId, scheduledAt },
    });
    await enqueue("message.fire", { scheduledMessageId: row.id }, { startAfter: scheduledAt });
    return row;
  });
}

/**
 * The `message.fire` job. Claims the row (PENDING -> FIRED under its lock, so a later cancel gets
 * CONFLICT), then sends as the sender with an idempotency key, so a retry after a crash between
 * the claim and the send returns the same message instead of sending twice. A check that fails
 * now (membership changed, user gone) leaves it FAILED with lastError.
 */
export async function fireScheduledMessage(
  services: AppServices,
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
    const ctx = await buildContext(services, {});
    const sender = await ctx.prisma.user.findUnique({ where: { id: row.senderId }, select: { id: true } });
    if (!sender) throw notFound("Sender");
    const content = cleanContent(row.content, ctx.config.maxMessageLength);
    let target: { conversationId: string } | { directWith: string };
    if (row.to) {
      await requireUserRef(ctx, row.to, "to");
      target = { directWith: row.to };
    } else {
      await requireMembership(ctx, row.conversationId ?? "", row.senderId);
      target = { conversationId: row.conversationId ?? "" };
    }
    const message = await sendMessage(ctx, {
      senderId: row.senderId,
      content,
      clientMessageId: row.clientMessageId ?? `scheduled:${row.id}`,
      target,
    });
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
export async function cancelScheduled(ctx: Context, id: string): Promise<void> {
  if (!isUuid(id)) throw notFound("Scheduled item");
  const admin = ctx.isSystem || ctx.viewer?.role === "ADMIN";
  await writeTransaction(ctx, async (tx) => {
    const [message] = await tx.$queryRaw<Pick<ScheduledMessage, "state" | "senderId">[]>`
      SELECT state, "senderId" FROM "ScheduledMessage" WHERE id = ${id}::uuid FOR UPDATE`;
    if (message && message.senderId === ctx.viewer?.id) {
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
