// Webhook endpoints (API key only): registration, secrets, replay, and the event body every
// delivery carries. The dispatcher (src/delivery/webhook-dispatcher.ts) and the `webhook.deliver`
// worker (src/jobs/webhooks.ts) do the sending.
import { v7 as uuidv7 } from "uuid";
import { badInput, conflict, notFound } from "../../core/errors.ts";
import { capList, cleanHttpUrl, isUuid } from "../../core/input.ts";
import { ALLOW_PRIVATE_HINT, checkHost } from "../../core/outbound.ts";
import type { Services } from "../../core/services.ts";
import {
  EVENT_TYPES,
  type EventType,
  headPosition,
  type LogEvent,
  type LogReader,
  readEvents,
} from "../../events/log.ts";
import { comparePositions, decodeCursor, type Position } from "../../events/position.ts";
import { checkResumable, eventPosition } from "../../events/stream.ts";
import { writeTransaction } from "../../events/writer.ts";
import type { Prisma } from "../../generated/prisma/client.ts";
import { newWebhookSecret } from "./sign.ts";

/** Subscribes an endpoint to every event type, present and future. */
export const ALL_EVENTS = "*";

/** Most events one replayWebhookEvents call re-sends; call again from the last one for more. */
export const REPLAY_LIMIT = 10_000;

const KNOWN = new Set<string>(EVENT_TYPES);

/** Longest list of event types an argument takes: far more than there are types, but bounded. */
export const MAX_EVENT_TYPE_ENTRIES = 100;

/** Known event types (or "*" where allowed), deduplicated; BAD_USER_INPUT names the unknown ones. */
export function cleanEventTypes(values: readonly string[], field: string, allowAll: boolean): string[] {
  capList(values, field, MAX_EVENT_TYPE_ENTRIES);
  const types = [...new Set(values.map((v) => v.trim()))];
  if (types.length === 0) throw badInput(field, `${field} must name at least one event type`);
  const unknown = types.filter((t) => !KNOWN.has(t) && !(allowAll && t === ALL_EVENTS));
  if (unknown.length > 0) {
    throw badInput(
      field,
      `Unknown event type${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}. Known: ${EVENT_TYPES.join(", ")}${allowAll ? `, or "${ALL_EVENTS}" for all` : ""}`,
    );
  }
  return types.includes(ALL_EVENTS) ? [ALL_EVENTS] : types;
}

/**
 * An http(s) URL (the one URL validator) whose host is a public address: an IP literal as given, a
 * name as DNS resolves it now (every address). The worker checks the address again on every
 * connection (core/outbound.ts), since DNS can change. WEBHOOK_ALLOW_PRIVATE allows private ones.
 */
export async function cleanWebhookUrl(
  ctx: Pick<Services, "config">,
  value: string,
  field = "url",
): Promise<string> {
  const url = new URL(cleanHttpUrl(value, field));
  const check = await checkHost(url, ctx.config.webhooks.allowPrivate);
  if (!check.ok && check.reason === "unresolved") {
    throw badInput(field, `${field}: the host ${url.hostname} could not be resolved (${check.detail})`);
  }
  if (!check.ok) {
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const what = host === check.address ? host : `${host} resolves to ${check.address}, which`;
    const hint = check.detail.startsWith("a non-public address") ? ` (${ALLOW_PRIVATE_HINT})` : "";
    throw badInput(field, `${field} must point to a public address: ${what} is ${check.detail}${hint}`);
  }
  return url.href;
}

function cleanDescription(value: string | null | undefined): string | null {
  const text = value?.trim();
  if (!text) return null;
  if (text.length > 500) throw badInput("description", "description must be at most 500 characters");
  return text;
}

export type EndpointMatch = { eventTypes: string[]; startSnapshot: string };

/**
 * Whether a transaction had committed for a pg_snapshot ("xmin:xmax:xip,..."), as PostgreSQL's
 * pg_visible_in_snapshot decides it: below xmin, or below xmax and not among those in progress.
 */
export function visibleInSnapshot(txid: bigint, snapshot: string): boolean {
  const [xmin, xmax, xip = ""] = snapshot.split(":");
  if (!xmin || !xmax) return false;
  if (txid < BigInt(xmin)) return true;
  if (txid >= BigInt(xmax)) return false;
  return !xip.split(",").some((x) => x !== "" && BigInt(x) === txid);
}

/**
 * Whether the dispatcher sends `e` to the endpoint: a subscribed type, and logged after the
 * endpoint was created, exactly: by a transaction its creation snapshot did not see committed.
 */
export function endpointWants(endpoint: EndpointMatch, e: LogEvent): boolean {
  return (
    (endpoint.eventTypes.includes(ALL_EVENTS) || endpoint.eventTypes.includes(e.type)) &&
    !visibleInSnapshot(e.txid, endpoint.startSnapshot)
  );
}

export async function requireEndpoint(ctx: Pick<Services, "prisma">, id: string) {
  const endpoint = isUuid(id) ? await ctx.prisma.webhookEndpoint.findUnique({ where: { id } }) : null;
  if (!endpoint) throw notFound("Webhook endpoint");
  return endpoint;
}

export type EndpointInput = { url: string; eventTypes: string[]; description?: string | null };

/** Creates an endpoint; it receives the events that commit from now on, not the log's history. */
export async function createWebhookEndpoint(ctx: Pick<Services, "prisma" | "config">, input: EndpointInput) {
  const data = {
    eventTypes: cleanEventTypes(input.eventTypes, "eventTypes", true),
    description: cleanDescription(input.description),
    // Last: it may wait for DNS, so the other arguments' errors come first.
    url: await cleanWebhookUrl(ctx, input.url),
  };
  const secret = newWebhookSecret();
  const endpoint = await ctx.prisma.$transaction(async (tx) => {
    await holdDispatchPosition(tx);
    // The snapshot tells exactly which transactions had committed by now: their events are history.
    const [snapshot] = await tx.$queryRaw<{ s: string }[]>`SELECT pg_current_snapshot()::text AS s`;
    return tx.webhookEndpoint.create({ data: { ...data, secret, startSnapshot: snapshot?.s ?? "" } });
  });
  return { endpoint, secret };
}

/**
 * Locks the dispatcher's position (creating it at the log head if there is none yet) until the
 * caller's transaction ends. With no active endpoint the dispatcher skips to the head instead of
 * reading every event (WebhookDispatcher.skipIdle) under this same lock, so an endpoint being
 * created or re-activated cannot have events skipped after the point it starts from.
 */
async function holdDispatchPosition(tx: Prisma.TransactionClient) {
  await tx.$executeRaw`
    INSERT INTO "WebhookDispatchState" (id, txid, "eventId")
    VALUES (1, event_log_horizon(), 0)
    ON CONFLICT (id) DO NOTHING`;
  await tx.$queryRaw`SELECT 1 FROM "WebhookDispatchState" WHERE id = 1 FOR UPDATE`;
}

export type EndpointChanges = {
  url?: string | null;
  eventTypes?: string[] | null;
  /** null clears it; absent keeps it. */
  description?: string | null;
  active?: boolean | null;
};

export async function updateWebhookEndpoint(
  ctx: Pick<Services, "prisma" | "config">,
  id: string,
  changes: EndpointChanges,
) {
  await requireEndpoint(ctx, id);
  const data: Prisma.WebhookEndpointUpdateInput = {};
  if (changes.url != null) data.url = await cleanWebhookUrl(ctx, changes.url);
  if (changes.eventTypes != null) data.eventTypes = cleanEventTypes(changes.eventTypes, "eventTypes", true);
  if (changes.description !== undefined) data.description = cleanDescription(changes.description);
  if (changes.active != null) data.active = changes.active;
  if (!changes.active) return ctx.prisma.webhookEndpoint.update({ where: { id }, data });
  return ctx.prisma.$transaction(async (tx) => {
    await holdDispatchPosition(tx);
    return tx.webhookEndpoint.update({ where: { id }, data });
  });
}

/** A new secret, effective at once (retries of earlier deliveries are signed with it too). */
export async function rotateWebhookSecret(ctx: Pick<Services, "prisma">, id: string) {
  await requireEndpoint(ctx, id);
  const secret = newWebhookSecret();
  const endpoint = await ctx.prisma.webhookEndpoint.update({ where: { id }, data: { secret } });
  return { endpoint, secret };
}

/**
 * Re-sends the endpoint's events after `after` (its subscribed types, narrowed by `types`) as new
 * deliveries marked `replay`, in one transaction; at most REPLAY_LIMIT. Only events the dispatcher
 * has already passed are replayed: later ones are still on their way, and replaying them too would
 * send them twice. Returns how many deliveries were queued.
 */
export async function replayWebhookEvents(
  ctx: Pick<Services, "prisma" | "pubsub" | "jobs">,
  endpointId: string,
  after: string,
  types: readonly string[] | null | undefined,
): Promise<number> {
  const endpoint = await requireEndpoint(ctx, endpointId);
  const from = decodeCursor(after, "after");
  const wanted = types?.length ? cleanEventTypes(types, "types", false) : null;
  if (!endpoint.active) throw conflict("The endpoint is inactive: activate it before replaying to it");
  await checkResumable(ctx, from);
  const subscribed = endpoint.eventTypes.includes(ALL_EVENTS) ? null : endpoint.eventTypes;
  const filter = wanted ? wanted.filter((t) => subscribed === null || subscribed.includes(t)) : subscribed;
  if (filter?.length === 0) return 0;

  return writeTransaction(ctx, async (tx, _emit, enqueue) => {
    const state = await tx.webhookDispatchState.findUnique({ where: { id: 1 } });
    const until: Position = state ? { txid: state.txid, id: state.eventId } : await headPosition(tx);
    const events = await readEvents(
      tx,
      from,
      REPLAY_LIMIT,
      filter ? { types: filter as EventType[] } : undefined,
    );
    const due = events.filter((e) => comparePositions(eventPosition(e), until) <= 0);
    const rows = due.map((e) => ({
      id: uuidv7(),
      endpointId,
      eventId: e.id,
      eventTxid: e.txid,
      eventType: e.type,
      replay: true,
    }));
    await tx.webhookDelivery.createMany({ data: rows });
    await enqueue.many(
      "webhook.deliver",
      rows.map((r) => ({ data: { webhookDeliveryId: r.id } })),
    );
    return rows.length;
  });
}

/** The JSON a webhook (and the `events` query's `data`) carries for an event. */
export type EventBody = Record<string, unknown>;

/**
 * Each event's data: its ids and payload, plus the object it is about (message, notification,
 * broadcast summary) where there is one, so a no-code tool needs no second call. Three queries at
 * most for any number of events.
 */
export async function resolveEventData(
  db: LogReader &
    Pick<Prisma.TransactionClient, "message" | "notification" | "broadcast" | "broadcastRecipient">,
  events: readonly LogEvent[],
): Promise<EventBody[]> {
  const payloadOf = (e: LogEvent) =>
    e.payload && typeof e.payload === "object" && !Array.isArray(e.payload)
      ? (e.payload as Record<string, unknown>)
      : {};
  const ids = (kind: string, key: string) => [
    ...new Set(
      events
        .filter((e) => e.type.startsWith(kind))
        .map((e) => (key === "messageId" ? e.messageId : payloadOf(e)[key]))
        .filter((v): v is string => typeof v === "string" && isUuid(v)),
    ),
  ];
  const messageIds = ids("message.", "messageId");
  const notificationIds = ids("notification.", "notificationId");
  const broadcastIds = ids("broadcast.", "broadcastId");
  const [messages, notifications, broadcasts, counts] = await Promise.all([
    messageIds.length
      ? db.message.findMany({
          where: { id: { in: messageIds } },
          select: {
            id: true,
            conversationId: true,
            senderId: true,
            seq: true,
            kind: true,
            content: true,
            parentId: true,
            createdAt: true,
            editedAt: true,
            deletedAt: true,
          },
        })
      : [],
    notificationIds.length
      ? db.notification.findMany({
          where: { id: { in: notificationIds } },
          select: {
            id: true,
            userId: true,
            type: true,
            template: true,
            title: true,
            body: true,
            priority: true,
            actionUrl: true,
            data: true,
            status: true,
            broadcastId: true,
            createdAt: true,
            readAt: true,
          },
        })
      : [],
    broadcastIds.length
      ? db.broadcast.findMany({
          where: { id: { in: broadcastIds } },
          select: {
            id: true,
            kind: true,
            priority: true,
            audience: true,
            template: true,
            title: true,
            status: true,
            total: true,
            createdAt: true,
            startedAt: true,
            completedAt: true,
          },
        })
      : [],
    broadcastIds.length
      ? db.broadcastRecipient.groupBy({
          by: ["broadcastId", "state"],
          where: { broadcastId: { in: broadcastIds } },
          _count: { _all: true },
        })
      : [],
  ]);
  const byId = <T extends { id: string }>(rows: T[]) => new Map(rows.map((r) => [r.id, r]));
  const message = byId(messages);
  const notification = byId(notifications);
  const broadcast = byId(broadcasts);
  const countsOf = (broadcastId: string) =>
    Object.fromEntries(
      counts.filter((c) => c.broadcastId === broadcastId).map((c) => [c.state, c._count._all]),
    );

  return events.map((e) => {
    const payload = payloadOf(e);
    const data: EventBody = {
      ...payload,
      conversationId: e.conversationId,
      userId: e.userId,
      messageId: e.messageId,
      seq: e.seq,
    };
    if (e.messageId && message.has(e.messageId)) data.message = message.get(e.messageId);
    const n =
      typeof payload.notificationId === "string" ? notification.get(payload.notificationId) : undefined;
    if (n) data.notification = n;
    const b = typeof payload.broadcastId === "string" ? broadcast.get(payload.broadcastId) : undefined;
    if (b) data.broadcast = { ...b, counts: countsOf(b.id) };
    return data;
  });
}
