// The `events` polling query (rules in event-log.ts).

import type { LogEvent } from "../../events/log.ts";
import { encodeCursor } from "../../events/position.ts";
import { builder } from "../../schema/builder.ts";
import { cursorOf } from "../../schema/events.ts";
import { readEventPage } from "./event-log.ts";

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
      const page = await readEventPage(ctx, ctx.actor, args);
      const edges = page.events.map((e) => ({ cursor: cursorOf(e), node: e }));
      return {
        edges,
        pageInfo: {
          hasNextPage: page.hasNextPage,
          hasPreviousPage: false,
          startCursor: edges[0]?.cursor ?? null,
          // Never null, so a tool that stores it after every poll keeps its place on an empty page.
          endCursor: edges.at(-1)?.cursor ?? encodeCursor(page.after),
        },
        totalCount: page.count,
      };
    },
  }),
}));
