import { notFound } from "../../core/errors.ts";
import { isUuid } from "../../core/input.ts";
import { builder, pageLimits } from "../../schema/builder.ts";
import { requireViewer } from "../../schema/context.ts";
import { checkIdCursors } from "../../schema/cursor.ts";
import { DeliveryState } from "../broadcasts/broadcast.schema.ts";
import { addTarget, removeTarget } from "./targets.ts";

export const TargetKind = builder.enumType("TargetKind", {
  description: "EMAIL (address), SMS (E.164 phone number) or PUSH (device token).",
  values: ["EMAIL", "SMS", "PUSH"] as const,
});

export const DeliveryChannel = builder.enumType("DeliveryChannel", {
  values: ["IN_APP", "EMAIL", "SMS", "PUSH"] as const,
});

export const Delivery = builder.prismaObject("Delivery", {
  description: "One notification to one target through its provider, with its attempts and outcome.",
  fields: (t) => ({
    id: t.exposeID("id", {
      description: "Also the Idempotency-Key (HTTP) and Message-ID (email) of the send.",
    }),
    channel: t.expose("channel", { type: DeliveryChannel }),
    state: t.expose("state", { type: DeliveryState }),
    viaDigest: t.exposeBoolean("viaDigest", { description: "Waits for (or went out in) the daily digest." }),
    attempts: t.exposeInt("attempts"),
    lastError: t.exposeString("lastError", { nullable: true }),
    providerMessageId: t.exposeString("providerMessageId", { nullable: true }),
    broadcastId: t.exposeID("broadcastId", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    sentAt: t.expose("sentAt", { type: "DateTime", nullable: true }),
    notification: t.relation("notification"),
    target: t.relation("target"),
  }),
});

export const Target = builder.prismaObject("Target", {
  description: "Where a user is reached outside the app.",
  fields: (t) => ({
    id: t.exposeID("id"),
    kind: t.expose("kind", { type: TargetKind }),
    address: t.exposeString("address"),
    label: t.exposeString("label", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    deliveries: t.relatedConnection("deliveries", {
      cursor: "id",
      ...pageLimits,
      description: "The delivery log of this target, newest first; `state` filters it.",
      args: { state: t.arg({ type: DeliveryState, required: false }) },
      query: (args) => {
        checkIdCursors(args);
        return {
          where: args.state ? { state: args.state } : {},
          orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        };
      },
      totalCount: true,
    }),
  }),
});

builder.prismaObjectFields("User", (t) => ({
  targets: t.relation("targets", {
    description: "The user's targets (the user themselves, or the API key).",
    authScopes: (user, _args, ctx) => ctx.isSystem || ctx.viewer?.id === user.id,
    query: { orderBy: [{ createdAt: "asc" }, { id: "asc" }] },
  }),
}));

builder.queryFields((t) => ({
  targets: t.prismaField({
    type: ["Target"],
    description: "The viewer's targets, oldest first.",
    authScopes: { viewer: true },
    resolve: (query, _root, _args, ctx) =>
      ctx.prisma.target.findMany({
        ...query,
        where: { userId: requireViewer(ctx).id },
        orderBy: [{ createdAt: "asc" }, { id: "asc" }],
      }),
  }),
  delivery: t.prismaField({
    type: "Delivery",
    description: "One delivery: its addressee, or the API key / an ADMIN; NOT_FOUND otherwise.",
    authScopes: { viewer: true, admin: true },
    args: { id: t.arg.id() },
    resolve: async (query, _root, args, ctx) => {
      const id = String(args.id);
      const admin = ctx.isSystem || ctx.viewer?.role === "ADMIN";
      const delivery = isUuid(id)
        ? await ctx.prisma.delivery.findFirst({
            ...query,
            where: admin ? { id } : { id, userId: ctx.viewer?.id ?? "" },
          })
        : null;
      if (!delivery) throw notFound("Delivery");
      return delivery;
    },
  }),
}));

builder.mutationFields((t) => ({
  addTarget: t.prismaField({
    type: "Target",
    description:
      "Adds a target for the viewer (or, with the API key, for `userId`). The address is checked per kind; " +
      "the same address twice is CONFLICT.",
    authScopes: { viewer: true, system: true },
    args: {
      kind: t.arg({ type: TargetKind }),
      address: t.arg.string(),
      label: t.arg.string({ required: false }),
      userId: t.arg.string({ required: false }),
    },
    resolve: async (query, _root, args, ctx) => {
      const target = await addTarget(ctx, ctx.actor, args);
      return ctx.prisma.target.findUniqueOrThrow({ ...query, where: { id: target.id } });
    },
  }),
  removeTarget: t.boolean({
    description: "Removes one of the viewer's targets (API key: anyone's) with its delivery log.",
    authScopes: { viewer: true, system: true },
    args: { id: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      await removeTarget(ctx, ctx.actor, { id: String(args.id) });
      return true;
    },
  }),
}));
