// Broadcasts: one request addressed to a list of users, a topic's subscribers or everyone. The
// request writes the Broadcast row and its first job in one transaction and returns; recipients are
// added in the background, one batch per `broadcast.fanout` job (see fanoutBatch).
import { v7 as uuidv7 } from "uuid";
import { type Actor, isOperator } from "../../core/actor.ts";
import { badInput, forbidden } from "../../core/errors.ts";
import { cleanHttpUrl, cleanJsonObject, cleanText, isUuid } from "../../core/input.ts";
import type { Services as AppServices } from "../../core/services.ts";
import { writeTransaction } from "../../events/writer.ts";
import {
  type BroadcastAudience,
  type BroadcastKind,
  type BroadcastStatus,
  type NotificationPriority,
  Prisma,
} from "../../generated/prisma/client.ts";
import { completeIfDone } from "../notifications/delivery/broadcast-progress.ts";
import { createDeliveries } from "../notifications/delivery/plan.ts";
import { JOB_PRIORITY } from "../notifications/delivery/routes.ts";
import { renderTemplate, requireTemplate } from "../notifications/templates.ts";
import { requireUserRefs } from "../users/users.ts";

export type BroadcastInput = {
  userIds?: readonly string[] | null;
  topic?: string | null;
  everyone?: boolean | null;
  template?: string | null;
  data?: unknown;
  title?: string | null;
  body?: string | null;
  kind?: BroadcastKind | null;
  priority?: NotificationPriority | null;
  actionUrl?: string | null;
  scheduledAt?: Date | null;
};

const MAX_TITLE = 200;
const MAX_BODY = 5_000;
/** A USERS audience travels in the request; larger audiences belong in a topic. */
const MAX_USER_IDS = 10_000;

type Audience = { audience: BroadcastAudience; userIds: string[]; topicId: string | null };

async function resolveAudience(ctx: AppServices, input: BroadcastInput): Promise<Audience> {
  const chosen = [input.userIds != null, input.topic != null, input.everyone === true].filter(Boolean).length;
  if (chosen !== 1) {
    throw badInput("input", "Name exactly one audience: userIds, topic or everyone: true");
  }
  if (input.userIds != null) {
    if (input.userIds.length === 0) throw badInput("userIds", "userIds must name at least one user");
    if (input.userIds.length > MAX_USER_IDS) {
      throw badInput("userIds", `userIds may name at most ${MAX_USER_IDS} users; use a topic for more`);
    }
    const users = await requireUserRefs(ctx, input.userIds, "userIds");
    // Sorted: fan-out walks the list in id order, like the other audiences.
    return { audience: "USERS", userIds: users.map((u) => u.id).sort(), topicId: null };
  }
  if (input.topic != null) {
    const ref = input.topic.trim();
    const topic = await ctx.prisma.topic.findFirst({
      where: isUuid(ref) ? { OR: [{ id: ref }, { key: ref }] } : { key: ref },
      select: { id: true },
    });
    if (!topic) throw badInput("topic", `Unknown topic '${input.topic}'`);
    return { audience: "TOPIC", userIds: [], topicId: topic.id };
  }
  return { audience: "EVERYONE", userIds: [], topicId: null };
}

type Content = {
  template: string | null;
  title: string;
  body: string;
  priority: NotificationPriority;
  data: Prisma.InputJsonObject;
};

/** Renders a template once, here: every recipient gets the stored title and body. */
async function resolveContent(ctx: AppServices, input: BroadcastInput): Promise<Content> {
  const data = cleanJsonObject(input.data, "data", ctx.config.caps) as Prisma.InputJsonObject;
  if (input.template != null) {
    if (input.title != null || input.body != null) {
      throw badInput(input.title != null ? "title" : "body", "Give either a template or a title and body");
    }
    const template = await requireTemplate(ctx, input.template);
    return {
      template: template.key,
      title: renderTemplate(template.title, data),
      body: renderTemplate(template.body, data),
      priority: input.priority ?? template.defaultPriority,
      data,
    };
  }
  if (input.title == null) throw badInput("title", "Give a title and body, or a template");
  if (input.body == null) throw badInput("body", "Give a body with the title");
  return {
    template: null,
    title: cleanText(input.title, "title", MAX_TITLE),
    body: cleanText(input.body, "body", MAX_BODY),
    priority: input.priority ?? "NORMAL",
    data,
  };
}

/**
 * Validates everything first (bad input writes nothing), then writes the Broadcast row and its first
 * job in one transaction: `broadcast.fanout` now, or `broadcast.fire` at scheduledAt.
 */
export async function createBroadcast<Q extends { select?: object; include?: object }>(
  ctx: AppServices,
  actor: Actor,
  input: BroadcastInput,
  query: Q,
) {
  if (!isOperator(actor)) throw forbidden("Only the API key or an ADMIN can broadcast");
  if (input.scheduledAt != null && input.scheduledAt.getTime() <= Date.now()) {
    throw badInput("scheduledAt", "scheduledAt must be in the future");
  }
  const actionUrl = input.actionUrl == null ? null : cleanHttpUrl(input.actionUrl, "actionUrl");
  const content = await resolveContent(ctx, input);
  const audience = await resolveAudience(ctx, input);
  const id = uuidv7();
  const scheduledAt = input.scheduledAt ?? null;
  return writeTransaction(ctx, async (tx, _emit, enqueue) => {
    // Returned as written (QUEUED or SCHEDULED): a worker may move it on as soon as this commits.
    const broadcast = await tx.broadcast.create({
      ...(query as object),
      data: {
        id,
        kind: input.kind ?? "ANNOUNCEMENT",
        ...audience,
        ...content,
        actionUrl,
        status: scheduledAt ? "SCHEDULED" : "QUEUED",
        scheduledAt,
      },
    });
    const priority = JOB_PRIORITY[content.priority];
    if (scheduledAt)
      await enqueue("broadcast.fire", { broadcastId: id }, { priority, startAfter: scheduledAt });
    else await enqueue("broadcast.fanout", { broadcastId: id }, { priority });
    return broadcast;
  });
}

type Services = Pick<AppServices, "prisma" | "pubsub" | "jobs" | "config">;

/**
 * The `broadcast.fire` job: a scheduled broadcast starts unless it was cancelled meanwhile. The row
 * lock orders it against cancelScheduled, which moves SCHEDULED -> CANCELLED; a repeated job finds
 * the broadcast QUEUED or further and does nothing.
 */
export async function fireBroadcast(services: Services, broadcastId: string): Promise<void> {
  await writeTransaction(services, async (tx, _emit, enqueue) => {
    const [row] = await tx.$queryRaw<{ status: BroadcastStatus; priority: NotificationPriority }[]>`
      SELECT status, priority FROM "Broadcast" WHERE id = ${broadcastId}::uuid FOR UPDATE`;
    if (row?.status !== "SCHEDULED") return;
    await tx.broadcast.update({ where: { id: broadcastId }, data: { status: "QUEUED" } });
    await enqueue("broadcast.fanout", { broadcastId }, { priority: JOB_PRIORITY[row.priority] });
  });
}

type LockedBroadcast = {
  status: BroadcastStatus;
  audience: BroadcastAudience;
  userIds: string[];
  topicId: string | null;
  fanoutCursor: string | null;
  fanoutDone: boolean;
  kind: BroadcastKind;
  priority: NotificationPriority;
  template: string | null;
  title: string;
  body: string;
  actionUrl: string | null;
  data: Prisma.JsonValue;
};

/** Sorts before every uuid: the cursor of a fan-out that has not started. */
const NIL_UUID = "00000000-0000-0000-0000-000000000000";

/**
 * The next `limit` audience members after `cursor`, in id order. EVERYONE and TOPIC are fixed at the
 * moment fan-out starts (users and subscriptions created later are left out), so a long fan-out has
 * a definite audience.
 */
function nextAudienceBatch(tx: Prisma.TransactionClient, id: string, b: LockedBroadcast, limit: number) {
  const after = b.fanoutCursor ?? NIL_UUID;
  // Compared in SQL with the stored startedAt: no clock or time zone of ours involved.
  const asOf = Prisma.sql`(SELECT "startedAt" FROM "Broadcast" WHERE id = ${id}::uuid)`;
  switch (b.audience) {
    case "EVERYONE":
      return tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM "User" WHERE id > ${after}::uuid AND "createdAt" <= ${asOf}
        ORDER BY id LIMIT ${limit}`;
    case "TOPIC":
      return tx.$queryRaw<{ id: string }[]>`
        SELECT "userId" AS id FROM "TopicSubscription"
        WHERE "topicId" = ${b.topicId}::uuid AND "userId" > ${after}::uuid AND "createdAt" <= ${asOf}
        ORDER BY "userId" LIMIT ${limit}`;
    case "USERS":
      // Joined with User: someone deleted since the request is skipped, not an error.
      return tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM "User" WHERE id = ANY(${b.userIds}::uuid[]) AND id > ${after}::uuid
        ORDER BY id LIMIT ${limit}`;
  }
}

/**
 * The `broadcast.fanout` job: adds the next batch of recipients in ONE transaction. The Broadcast row
 * is locked first and the batch starts after its cursor, which moves in the same transaction; so a
 * job run twice (at-least-once delivery, or the recovery enqueue at start-up) either finds nothing
 * left or takes the following batch, never a batch again. Set-based SQL throughout: a handful of
 * statements per batch, whatever its size.
 */
export async function fanoutBatch(services: Services, broadcastId: string): Promise<void> {
  const limit = services.config.broadcastBatchSize;
  await writeTransaction(services, async (tx, emit, enqueue) => {
    const [b] = await tx.$queryRaw<LockedBroadcast[]>`
      SELECT status, audience, "userIds"::text[] AS "userIds", "topicId"::text AS "topicId",
             "fanoutCursor"::text AS "fanoutCursor", "fanoutDone", kind, priority, template,
             title, body, "actionUrl", data
      FROM "Broadcast" WHERE id = ${broadcastId}::uuid FOR UPDATE`;
    if (!b || b.fanoutDone || (b.status !== "QUEUED" && b.status !== "SENDING")) return;
    if (b.status === "QUEUED") {
      await tx.broadcast.update({
        where: { id: broadcastId },
        data: { status: "SENDING", startedAt: new Date() },
      });
      emit({ type: "broadcast.started", payload: { broadcastId, audience: b.audience, kind: b.kind } });
    }
    const users = (await nextAudienceBatch(tx, broadcastId, b, limit)).map((r) => r.id);
    const last = users.at(-1);
    if (last !== undefined) {
      const ids = users.map(() => uuidv7());
      const type = `broadcast.${b.kind.toLowerCase()}`;
      await tx.$executeRaw`
        INSERT INTO "Notification"
          (id, "userId", type, template, title, body, priority, "actionUrl", data, status, "broadcastId")
        SELECT n, u, ${type}, ${b.template}, ${b.title}, ${b.body}, ${b.priority}::"NotificationPriority",
               ${b.actionUrl}, ${JSON.stringify(b.data ?? {})}::jsonb, 'DELIVERED', ${broadcastId}::uuid
        FROM unnest(${ids}::uuid[], ${users}::uuid[]) AS t(n, u)`;
      // One `notification.created` per notification, as single sends log it (notificationEvents
      // streams them), appended in one statement by the log writer.
      emit.bulk({
        type: "notification.created",
        rows: users.map((userId, i) => ({
          userId,
          payload: { notificationId: ids[i] as string, broadcastId },
        })),
      });
      await createDeliveries(
        tx,
        enqueue,
        users.map((userId, i) => ({ id: ids[i] as string, userId, priority: b.priority })),
        broadcastId,
      );
      // A recipient waits (QUEUED) only for deliveries that go out now; digest ones do not hold it.
      await tx.$executeRaw`
        INSERT INTO "BroadcastRecipient" ("broadcastId", "userId", "notificationId", state, "updatedAt")
        SELECT ${broadcastId}::uuid, u, n,
               CASE WHEN EXISTS (SELECT 1 FROM "Delivery" d WHERE d."notificationId" = n AND NOT d."viaDigest")
                    THEN 'QUEUED' ELSE 'SENT' END::"DeliveryState",
               now()
        FROM unnest(${ids}::uuid[], ${users}::uuid[]) AS t(n, u)
        ON CONFLICT DO NOTHING`;
    }
    const done = users.length < limit;
    await tx.broadcast.update({
      where: { id: broadcastId },
      data: {
        ...(last !== undefined ? { fanoutCursor: last, total: { increment: users.length } } : {}),
        ...(done ? { fanoutDone: true } : {}),
      },
    });
    if (done) await completeIfDone(tx, emit, broadcastId);
    else await enqueue("broadcast.fanout", { broadcastId }, { priority: JOB_PRIORITY[b.priority] });
  });
}

/**
 * Start-up recovery. A fan-out job whose worker died stays `active` in pg-boss until it expires
 * (60 s); enqueueing a fresh one for every unfinished fan-out resumes it at once (a duplicate is a
 * no-op by design). Scheduled broadcasts that are due get a fresh `broadcast.fire` for the same
 * reason, and broadcasts whose fan-out is done get their completion checked again.
 */
export async function resumeBroadcasts(services: Services): Promise<number> {
  const [unfinished, due, settling] = await Promise.all([
    services.prisma.broadcast.findMany({
      where: { status: { in: ["QUEUED", "SENDING"] }, fanoutDone: false },
      select: { id: true, priority: true },
    }),
    services.prisma.broadcast.findMany({
      where: { status: "SCHEDULED", scheduledAt: { lte: new Date() } },
      select: { id: true, priority: true },
    }),
    services.prisma.broadcast.findMany({
      where: { status: "SENDING", fanoutDone: true },
      select: { id: true },
    }),
  ]);
  if (unfinished.length || due.length) {
    await writeTransaction(services, async (_tx, _emit, enqueue) => {
      const job = (b: { id: string; priority: NotificationPriority }) => ({
        data: { broadcastId: b.id },
        options: { priority: JOB_PRIORITY[b.priority] },
      });
      await enqueue.many("broadcast.fanout", unfinished.map(job));
      await enqueue.many("broadcast.fire", due.map(job));
    });
  }
  for (const b of settling) {
    await writeTransaction(services, (tx, emit) => completeIfDone(tx, emit, b.id));
  }
  return unfinished.length + due.length;
}
