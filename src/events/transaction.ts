import type { Context } from "../context.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import { appendEvents, type EventInput } from "./log.ts";
import { comparePositions, type Position, toJson } from "./position.ts";
import type { PubSub } from "./pubsub.ts";

export type Emit = (event: EventInput) => void;

/**
 * The spine of every state change (DESIGN.md): run `fn` in one transaction, append the events it
 * emitted to the log in that same transaction, and announce them only after the commit, so a
 * rolled-back change never reaches a subscriber.
 */
export async function writeTransaction<T>(
  ctx: Pick<Context, "prisma" | "pubsub">,
  fn: (tx: Prisma.TransactionClient, emit: Emit) => Promise<T>,
): Promise<T> {
  const { result, logged } = await ctx.prisma.$transaction(async (tx) => {
    const pending: EventInput[] = [];
    const result = await fn(tx, (e) => pending.push(e));
    const logged = await appendEvents(tx, pending);
    return { result, logged };
  });
  announce(ctx.pubsub, logged);
  return result;
}

/**
 * Tells every instance that the log grew. Never throws and is not awaited: the events are durable
 * already, and log readers also poll, so a lost notice (Redis down) only delays delivery.
 */
export function announce(pubsub: PubSub, positions: readonly Position[]): void {
  const newest = positions.reduce<Position | null>(
    (max, p) => (max === null || comparePositions(p, max) > 0 ? p : max),
    null,
  );
  if (!newest) return;
  pubsub.publish("log", toJson(newest)).catch((error: unknown) => {
    console.warn(`log notice not published (subscribers will catch up by polling): ${String(error)}`);
  });
}
