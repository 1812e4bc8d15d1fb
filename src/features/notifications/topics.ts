// Topics users subscribe to; broadcasts to a topic reach its subscribers (TopicSubscription).

import { badInput, conflict, notFound } from "../../core/errors.ts";
import { cleanText, isUuid } from "../../core/input.ts";
import type { Context } from "../../schema/context.ts";

const KEY = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

export async function createTopic(
  ctx: Context,
  args: { key: string; name: string; description?: string | null | undefined },
) {
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
export async function requireTopic(ctx: Context, ref: string) {
  const value = ref.trim();
  const topic = await ctx.prisma.topic.findUnique({
    where: isUuid(value) ? { id: value } : { key: value },
    select: { id: true },
  });
  if (!topic) throw notFound(`Topic '${ref}'`);
  return topic;
}

/** Idempotent: subscribing twice keeps one subscription. */
export async function subscribeToTopic(ctx: Context, topicId: string, userId: string) {
  await ctx.prisma.topicSubscription.createMany({ data: [{ topicId, userId }], skipDuplicates: true });
}

export async function unsubscribeFromTopic(ctx: Context, topicId: string, userId: string) {
  await ctx.prisma.topicSubscription.deleteMany({ where: { topicId, userId } });
}
