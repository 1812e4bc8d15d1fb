// Topics users subscribe to; broadcasts to a topic reach its subscribers (TopicSubscription).

import { type Actor, hasApiKey } from "../../core/actor.ts";
import { badInput, conflict, forbidden, notFound } from "../../core/errors.ts";
import { cleanText, isUuid } from "../../core/input.ts";
import type { Services } from "../../core/services.ts";
import { actingUser } from "./targets.ts";

const KEY = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

/** `createTopic` (API key). */
export async function createTopic(
  ctx: Services,
  actor: Actor,
  args: { key: string; name: string; description?: string | null | undefined },
) {
  if (!hasApiKey(actor)) throw forbidden("Only the API key can create topics");
  const key = args.key.trim();
  if (!KEY.test(key) || isUuid(key)) {
    throw badInput("key", "key must be 1-64 characters: lowercase letters, digits, '_', '.' or '-'");
  }
  const name = cleanText(args.name, "name", 200);
  const description = args.description?.trim() || null;
  if (description && description.length > 2_000) {
    throw badInput("description", "description must be at most 2000 characters");
  }
  const created = await ctx.prisma.topic.createMany({
    data: [{ key, name, description }],
    skipDuplicates: true,
  });
  if (created.count === 0) throw conflict(`A topic with key '${key}' exists already`);
  return ctx.prisma.topic.findUniqueOrThrow({ where: { key } });
}

/** A topic named by key or id, or NOT_FOUND. */
export async function requireTopic(ctx: Pick<Services, "prisma">, ref: string) {
  const value = ref.trim();
  const topic = await ctx.prisma.topic.findUnique({
    where: isUuid(value) ? { id: value } : { key: value },
    select: { id: true },
  });
  if (!topic) throw notFound(`Topic '${ref}'`);
  return topic;
}

/** Idempotent: subscribing twice keeps one subscription. */
export async function subscribeToTopic(
  ctx: Services,
  actor: Actor,
  input: { topic: string; userId?: string | null | undefined },
) {
  const topic = await requireTopic(ctx, input.topic);
  const userId = await actingUser(ctx, actor, input.userId);
  await ctx.prisma.topicSubscription.createMany({
    data: [{ topicId: topic.id, userId }],
    skipDuplicates: true,
  });
  return topic.id;
}

export async function unsubscribeFromTopic(
  ctx: Services,
  actor: Actor,
  input: { topic: string; userId?: string | null | undefined },
) {
  const topic = await requireTopic(ctx, input.topic);
  const userId = await actingUser(ctx, actor, input.userId);
  await ctx.prisma.topicSubscription.deleteMany({ where: { topicId: topic.id, userId } });
  return topic.id;
}
