import { encodeCursor } from "../../events/position.ts";
import { builder, pageLimits } from "../../schema/builder.ts";
import { withValidCursor } from "../../schema/cursor.ts";
// Declared once, with the broadcast recipients; every delivery log shares it.
import { DeliveryState } from "../broadcasts/broadcast.schema.ts";
import {
  createWebhookEndpoint,
  REPLAY_LIMIT,
  replayWebhookEvents,
  requireEndpoint,
  rotateWebhookSecret,
  updateWebhookEndpoint,
} from "./webhooks.ts";

// Webhook administration is for the host app's backend (X-Api-Key), never for end users: an
// endpoint sees every event of the server.
const SYSTEM = { system: true } as const;

export const WebhookDelivery = builder.prismaObject("WebhookDelivery", {
  description: "One event sent to one endpoint: the endpoint's delivery log.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "Also the `webhook-id` header: the same on every retry." }),
    eventType: t.exposeString("eventType"),
    eventId: t.id({ resolve: (d) => d.eventId.toString() }),
    eventCursor: t.string({
      description: "The event's cursor: pass it to replayWebhookEvents or `events` to continue after it.",
      resolve: (d) => encodeCursor({ txid: d.eventTxid, id: d.eventId }),
    }),
    state: t.expose("state", { type: DeliveryState }),
    attempts: t.exposeInt("attempts"),
    lastError: t.exposeString("lastError", { nullable: true }),
    responseStatus: t.exposeInt("responseStatus", { nullable: true }),
    replay: t.exposeBoolean("replay", { description: "Sent by replayWebhookEvents." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    deliveredAt: t.expose("deliveredAt", { type: "DateTime", nullable: true }),
  }),
});

export const WebhookEndpoint = builder.prismaObject("WebhookEndpoint", {
  description: "An HTTP endpoint that receives signed events (Standard Webhooks).",
  fields: (t) => ({
    id: t.exposeID("id"),
    url: t.exposeString("url"),
    eventTypes: t.exposeStringList("eventTypes", { description: 'Subscribed event types; "*" is all.' }),
    description: t.exposeString("description", { nullable: true }),
    active: t.exposeBoolean("active"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    deliveries: t.prismaConnection(
      {
        type: "WebhookDelivery",
        cursor: "id",
        ...pageLimits,
        description: "The delivery log, newest first; `state` filters it.",
        args: { state: t.arg({ type: DeliveryState, required: false }) },
        resolve: (query, endpoint, args, ctx) =>
          ctx.prisma.webhookDelivery.findMany({
            ...withValidCursor(query, args),
            where: { endpointId: endpoint.id, ...(args.state ? { state: args.state } : {}) },
            orderBy: [{ createdAt: "desc" }, { id: "desc" }],
          }),
        totalCount: (endpoint, args, ctx) =>
          ctx.prisma.webhookDelivery.count({
            where: { endpointId: endpoint.id, ...(args.state ? { state: args.state } : {}) },
          }),
      },
      { name: "WebhookDeliveryConnection" },
      { name: "WebhookDeliveryEdge" },
    ),
  }),
});

type SecretShape = { endpoint: typeof WebhookEndpoint.$inferType; secret: string };

const WebhookSecretPayload = builder.objectRef<SecretShape>("WebhookSecretPayload").implement({
  fields: (t) => ({
    endpoint: t.field({ type: WebhookEndpoint, resolve: (p) => p.endpoint }),
    secret: t.exposeString("secret", {
      description: "The signing secret (whsec_...), shown only here: store it to verify signatures.",
    }),
  }),
});

builder.queryFields((t) => ({
  webhookEndpoints: t.prismaConnection(
    {
      type: "WebhookEndpoint",
      cursor: "id",
      ...pageLimits,
      description: "Registered webhook endpoints, newest first (API key).",
      authScopes: SYSTEM,
      resolve: (query, _root, args, ctx) =>
        ctx.prisma.webhookEndpoint.findMany({
          ...withValidCursor(query, args),
          orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        }),
      totalCount: (_root, _args, ctx) => ctx.prisma.webhookEndpoint.count(),
    },
    { name: "WebhookEndpointConnection" },
    { name: "WebhookEndpointEdge" },
  ),
  webhookEndpoint: t.prismaField({
    type: "WebhookEndpoint",
    authScopes: SYSTEM,
    args: { id: t.arg.id() },
    resolve: async (query, _root, args, ctx) => {
      await requireEndpoint(ctx, String(args.id));
      return ctx.prisma.webhookEndpoint.findUniqueOrThrow({ ...query, where: { id: String(args.id) } });
    },
  }),
}));

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.field({
    type: WebhookSecretPayload,
    description: 'Registers an endpoint for event types ("*" for all). It receives events from now on.',
    authScopes: SYSTEM,
    args: {
      url: t.arg.string(),
      eventTypes: t.arg.stringList(),
      description: t.arg.string({ required: false }),
    },
    resolve: (_root, args, ctx) => createWebhookEndpoint(ctx, args),
  }),
  updateWebhookEndpoint: t.field({
    type: WebhookEndpoint,
    description: "Changes the given fields; `active: false` pauses deliveries (queued ones are not sent).",
    authScopes: SYSTEM,
    args: {
      id: t.arg.id(),
      url: t.arg.string({ required: false }),
      eventTypes: t.arg.stringList({ required: false }),
      description: t.arg.string({ required: false }),
      active: t.arg.boolean({ required: false }),
    },
    resolve: (_root, { id, ...changes }, ctx) => updateWebhookEndpoint(ctx, String(id), changes),
  }),
  deleteWebhookEndpoint: t.id({
    description: "Deletes the endpoint and its delivery log; returns its id.",
    authScopes: SYSTEM,
    args: { id: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      const endpoint = await requireEndpoint(ctx, String(args.id));
      await ctx.prisma.webhookEndpoint.deleteMany({ where: { id: endpoint.id } });
      return endpoint.id;
    },
  }),
  rotateWebhookSecret: t.field({
    type: WebhookSecretPayload,
    description: "A new signing secret, effective at once (retries are signed with it too).",
    authScopes: SYSTEM,
    args: { id: t.arg.id() },
    resolve: (_root, args, ctx) => rotateWebhookSecret(ctx, String(args.id)),
  }),
  replayWebhookEvents: t.int({
    description: `Re-sends the endpoint's events after the cursor (its types, narrowed by \`types\`) as new deliveries marked \`replay\`; at most ${REPLAY_LIMIT} per call (continue from the last one's eventCursor). Returns how many were queued.`,
    authScopes: SYSTEM,
    args: {
      endpointId: t.arg.id(),
      after: t.arg.string(),
      types: t.arg.stringList({ required: false }),
    },
    resolve: (_root, args, ctx) => replayWebhookEvents(ctx, String(args.endpointId), args.after, args.types),
  }),
}));
