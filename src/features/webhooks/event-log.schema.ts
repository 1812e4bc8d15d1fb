// The `events` polling query: the event log as a connection, for tools that cannot receive
// webhooks or hold a subscription open (n8n, Make, Zapier-style polling triggers).

import { badInput } from "../../core/errors.ts";
import {
  countEvents,
  type EventFilter,
  type EventType,
  type LogEvent,
  prunedBefore,
  readEvents,
} from "../../events/log.ts";
import { decodeCursor, encodeCursor } from "../../events/position.ts";
import { checkResumable } from "../../events/stream.ts";
import { builder } from "../../schema/builder.ts";
import type { Context } from "../../schema/context.ts";
import { cursorOf } from "../../schema/events.ts";
import { cleanEventTypes, resolveEventData } from "./webhooks.ts";

const DEFAULT_PAGE = 20;

type EventShape = LogEvent & { data: unknown };

const Event = builder.objectRef<EventShape>("Event").implement({
  description: "One entry of the event log (the same events webhooks and subscriptions carry).",
  fields: (t) => ({
    id: t.id({ resolve: (e) => e.id.toString() }),
    cursor: t.string({
      description:
        "Pass as `after` (here, to subscriptions or to replayWebhookEvents) to continue after this event.",
      resolve: (e) => cursorOf(e),
    }),
    type: t.exposeString("type"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    conversationId: t.id({ nullable: true, resolve: (e) => e.conversationId }),
    userId: t.id({ nullable: true, resolve: (e) => e.userId }),
    messageId: t.id({ nullable: true, resolve: (e) => e.messageId }),
    seq: t.exposeInt("seq", { nullable: true }),
    data: t.field({
      type: "JSON",
      description:
        "The event's ids and payload, with the object it concerns (message, notification, broadcast).",
      resolve: (e) => e.data,
    }),
  }),
});

const EventConnection = builder.connectionObject(
  { type: Event, name: "EventConnection" },
  { name: "EventEdge" },
);

/** API key: every event. A user: events addressed to them or in conversations they are a member of now. */
async function scopeOf(ctx: Context, types: EventType[] | null): Promise<EventFilter | undefined> {
  if (ctx.isSystem || !ctx.viewer) return types ? { types } : undefined;
  const memberships = await ctx.prisma.membership.findMany({
    where: { userId: ctx.viewer.id, leftAt: null },
    select: { conversationId: true },
  });
  return {
    conversationIds: memberships.map((m) => m.conversationId),
    userId: ctx.viewer.id,
    ...(types ? { types } : {}),
  };
}

builder.queryFields((t) => ({
  events: t.field({
    type: EventConnection,
    description:
      "The event log, oldest first, after `after` (without it: from the start of the retained log). " +
      "Keep `pageInfo.endCursor` and pass it as `after` next time: every event arrives once, in order. " +
      "API key: all events; a user: their own and their conversations'.",
    authScopes: { viewer: true, system: true },
    args: {
      after: t.arg.string({ required: false }),
      types: t.arg.stringList({ required: false, description: "Only these event types (default: all)." }),
      first: t.arg.int({ required: false }),
    },
    resolve: async (_root, args, ctx) => {
      if (args.first != null && args.first < 0) throw badInput("first", "first must not be negative");
      const size = Math.min(args.first ?? DEFAULT_PAGE, ctx.config.maxPageSize);
      const types = args.types?.length ? (cleanEventTypes(args.types, "types", false) as EventType[]) : null;
      let from = args.after ? decodeCursor(args.after, "after") : null;
      if (from) await checkResumable(ctx, from);
      else from = await prunedBefore(ctx.prisma);
      const after = from;
      const filter = await scopeOf(ctx, types);
      // One more than asked tells whether another page is ready now.
      const events = await readEvents(ctx.prisma, after, size + 1, filter);
      const page = events.slice(0, size);
      const data = await resolveEventData(ctx.prisma, page);
      const edges = page.map((e, i) => ({ cursor: cursorOf(e), node: { ...e, data: data[i] } }));
      return {
        edges,
        pageInfo: {
          hasNextPage: events.length > size,
          hasPreviousPage: false,
          startCursor: edges[0]?.cursor ?? null,
          // Never null, so a tool that stores it after every poll keeps its place on an empty page.
          endCursor: edges.at(-1)?.cursor ?? encodeCursor(after),
        },
        totalCount: () => countEvents(ctx.prisma, after, filter),
      };
    },
  }),
}));
