import { builder, pageLimits } from "../../schema/builder.ts";
import { withValidCursor } from "../../schema/cursor.ts";
import { NIL_UUID } from "../messaging/visibility.ts";
import { createTopic, subscribeToTopic, unsubscribeFromTopic } from "./topics.ts";

export const Topic = builder.prismaObject("Topic", {
  description: "A subject users subscribe to; broadcasts can address a topic's subscribers.",
  fields: (t) => ({
    id: t.exposeID("id"),
    key: t.exposeString("key"),
    name: t.exposeString("name"),
    description: t.exposeString("description", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    subscriberCount: t.relationCount("subscriptions"),
    subscribed: t.boolean({
      description: "Whether the viewer is subscribed (false without a viewer).",
      select: (_args, ctx) => ({
        subscriptions: { where: { userId: ctx.viewer?.id ?? NIL_UUID }, select: { userId: true }, take: 1 },
      }),
      resolve: (topic) => topic.subscriptions.length > 0,
    }),
  }),
});

builder.queryFields((t) => ({
  topics: t.prismaConnection(
    {
      type: "Topic",
      cursor: "id",
      ...pageLimits,
      description: "Every topic, oldest first.",
      authScopes: { viewer: true, system: true },
      resolve: (query, _root, args, ctx) =>
        ctx.prisma.topic.findMany({ ...withValidCursor(query, args), orderBy: [{ id: "asc" }] }),
      totalCount: (_root, _args, ctx) => ctx.prisma.topic.count(),
    },
    { name: "TopicConnection" },
    { name: "TopicEdge" },
  ),
}));

builder.mutationFields((t) => ({
  createTopic: t.prismaField({
    type: "Topic",
    description: "Creates a topic (API key). `key` is its stable name (lowercase); duplicate: CONFLICT.",
    authScopes: { system: true },
    args: {
      key: t.arg.string(),
      name: t.arg.string(),
      description: t.arg.string({ required: false }),
    },
    resolve: async (query, _root, args, ctx) => {
      const topic = await createTopic(ctx, ctx.actor, args);
      return ctx.prisma.topic.findUniqueOrThrow({ ...query, where: { id: topic.id } });
    },
  }),
  subscribeToTopic: t.prismaField({
    type: "Topic",
    description: "Subscribes the viewer (or, with the API key, `userId`) to a topic named by key or id.",
    authScopes: { viewer: true, system: true },
    args: { topic: t.arg.string(), userId: t.arg.string({ required: false }) },
    resolve: async (query, _root, args, ctx) => {
      const id = await subscribeToTopic(ctx, ctx.actor, args);
      return ctx.prisma.topic.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  unsubscribeFromTopic: t.prismaField({
    type: "Topic",
    description: "Ends a subscription (no error when there was none).",
    authScopes: { viewer: true, system: true },
    args: { topic: t.arg.string(), userId: t.arg.string({ required: false }) },
    resolve: async (query, _root, args, ctx) => {
      const id = await unsubscribeFromTopic(ctx, ctx.actor, args);
      return ctx.prisma.topic.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
}));
