// Out-of-app delivery end to end: a real SMTP server (smtp-server) and real HTTP receivers for SMS
// and push on 127.0.0.1, an app on a database of its own (its job workers are the only ones that
// pick up these deliveries, so the providers configured here are the ones used). Routes per
// preference, retries with backoff, the dead and failed states, the digest, the per-target log.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendDelivery } from "../src/features/notifications/delivery/send.ts";
import {
  AddTargetDocument,
  DeliveryDocument,
  SendDigestNowDocument,
  SendNotificationDocument,
  SendNotificationWithDeliveriesDocument,
  SetNotificationPreferencesDocument,
  TargetDeliveriesDocument,
} from "./gql/graphql.ts";
import type { Client } from "./helpers/client.ts";
import { type Receiver, startReceiver } from "./helpers/receiver.ts";
import { signUp, TEST_API_KEY, type TestUser, useScratchDatabase, useServer } from "./helpers/server.ts";
import { type SmtpSink, startSmtp } from "./helpers/smtp.ts";
import { useSql } from "./helpers/sql.ts";
import { waitUntil } from "./helpers/wait.ts";

type Route = "IN_APP_ONLY" | "IN_APP_AND_EMAIL" | "IN_APP_EMAIL_AND_SMS" | "DAILY_DIGEST";
type Kind = "EMAIL" | "SMS" | "PUSH";
type Plan = { status: number; times: number };

const WAIT = 30_000;
// Per recipient address: answer `status` to the next `times` requests (Infinity: always).
const plans = new Map<string, Plan>();
let phones = 0;

const respond = ({ body }: { body: unknown }) => {
  const to = (body as { to?: string } | undefined)?.to ?? "";
  const plan = plans.get(to);
  if (!plan || plan.times <= 0) return 200;
  plan.times -= 1;
  return plan.status;
};

const db = useScratchDatabase("delivery_test");
let smtp: SmtpSink;
let sms: Receiver;
let push: Receiver;
// Registered before the server: after-hooks run in reverse, so the providers close after it stops.
beforeAll(async () => {
  smtp = await startSmtp();
  sms = await startReceiver({ respond });
  push = await startReceiver({ respond });
});
afterAll(async () => {
  await Promise.all([smtp?.close(), sms?.close(), push?.close()]);
});
const server = useServer(() => ({
  DATABASE_URL: db.url,
  JOB_POLL_SECONDS: "0.5",
  JOB_RETRY_DELAY_SECONDS: "1",
  SMTP_URL: smtp.url,
  EMAIL_FROM: "Acme <notify@acme.test>",
  SMS_HTTP_URL: sms.url,
  PUSH_HTTP_URL: push.url,
  PROVIDER_TIMEOUT_MS: "5000",
}));
const sql = useSql(() => db.url);
let system: Client;
beforeAll(() => {
  system = server.client.as({ apiKey: TEST_API_KEY });
});

type Recipient = TestUser & { email: string; phone: string; token: string; targets: Record<Kind, string> };

/** A user with one target of each kind and the given route. */
async function recipient(route: Route, prefix = "dl"): Promise<Recipient> {
  const user = await signUp(server, prefix);
  phones += 1;
  const email = `${user.username}@example.test`;
  const phone = `+1415${String(5_550_000 + phones).padStart(7, "0")}`;
  const pushToken = `push-${user.username}`;
  const targets = {} as Record<Kind, string>;
  for (const [kind, address] of [
    ["EMAIL", email],
    ["SMS", phone],
    ["PUSH", pushToken],
  ] as const) {
    targets[kind] = (await user.client.ok(AddTargetDocument, { kind, address })).addTarget.id;
  }
  await user.client.ok(SetNotificationPreferencesDocument, { route, digestHourUtc: 6 });
  return { ...user, email, phone, token: pushToken, targets };
}

async function send(userId: string, priority: "LOW" | "NORMAL" | "HIGH" | "URGENT", title = `t-${priority}`) {
  const { sendNotification } = await system.ok(SendNotificationWithDeliveriesDocument, {
    userId,
    title,
    body: `body of ${title}`,
    priority,
  });
  return sendNotification;
}

async function deliveryOf(id: string) {
  const { delivery } = await system.ok(DeliveryDocument, { id });
  return delivery;
}

/** Waits until the delivery reaches `state` (a final one), then returns it. */
async function settled(id: string, state: "SENT" | "FAILED" | "DEAD") {
  await waitUntil(async () => (await deliveryOf(id)).state === state, {
    what: `delivery ${id} ${state}`,
    timeoutMs: WAIT,
  });
  return deliveryOf(id);
}

const mailsTo = (address: string) => smtp.mails.filter((m) => m.to.includes(address));
const requestsTo = (r: Receiver, to: string) =>
  r.requests.filter((q) => (q.body as { to?: string } | undefined)?.to === to);

describe("routes", () => {
  it("IN_APP_ONLY and LOW stay in the app", async () => {
    const quiet = await recipient("IN_APP_ONLY");
    expect((await send(quiet.id, "URGENT")).deliveries).toEqual([]);
    const normal = await recipient("IN_APP_AND_EMAIL");
    expect((await send(normal.id, "LOW")).deliveries).toEqual([]);
  });

  it("IN_APP_AND_EMAIL: NORMAL by email (subject, text, actionUrl, Message-ID from the delivery id)", async () => {
    const user = await recipient("IN_APP_AND_EMAIL");
    const { sendNotification } = await system.ok(SendNotificationDocument, {
      userId: user.id,
      template: "order_shipped",
      data: { order_id: "B-77", carrier: "UPS", tracking_number: "1Z999" },
      actionUrl: "https://shop.example.com/orders/B-77",
    });
    const rows = await sql.query<{ id: string; channel: string }>(
      `SELECT id::text, channel::text FROM "Delivery" WHERE "notificationId" = $1::uuid`,
      [sendNotification.id],
    );
    expect(rows.map((r) => r.channel)).toEqual(["EMAIL"]);
    const id = rows[0]?.id as string;
    const done = await settled(id, "SENT");
    expect(done).toMatchObject({ channel: "EMAIL", attempts: 1, lastError: null, viaDigest: false });
    expect(done.sentAt).not.toBeNull();
    const [mail, ...others] = mailsTo(user.email);
    expect(others).toHaveLength(0);
    expect(mail?.subject).toBe("Order B-77 has shipped");
    expect(mail?.text).toContain("Your order B-77 is on its way with UPS.");
    expect(mail?.text).toContain("https://shop.example.com/orders/B-77");
    expect(mail?.messageId).toBe(`<${id}@acme.test>`);
    expect(mail?.from).toBe("notify@acme.test");
    expect(done.providerMessageId).toBe(`<${id}@acme.test>`);
  });

  it("IN_APP_AND_EMAIL: HIGH adds push (JSON body, Idempotency-Key = delivery id); no SMS", async () => {
    const user = await recipient("IN_APP_AND_EMAIL");
    const n = await send(user.id, "HIGH", "Deploy failed");
    expect(n.deliveries.map((d) => d.channel).sort()).toEqual(["EMAIL", "PUSH"]);
    for (const d of n.deliveries) await settled(d.id, "SENT");
    const pushDelivery = n.deliveries.find((d) => d.channel === "PUSH");
    const [request] = requestsTo(push, user.token);
    expect(request?.headers["idempotency-key"]).toBe(pushDelivery?.id);
    expect(request?.body).toEqual({
      deliveryId: pushDelivery?.id,
      to: user.token,
      title: "Deploy failed",
      body: "body of Deploy failed",
      priority: "HIGH",
      actionUrl: null,
      data: {},
    });
    expect(requestsTo(sms, user.phone)).toHaveLength(0);
    expect(mailsTo(user.email).map((m) => m.subject)).toEqual(["Deploy failed"]);
  });

  it("IN_APP_EMAIL_AND_SMS: URGENT by email, push and SMS", async () => {
    const user = await recipient("IN_APP_EMAIL_AND_SMS");
    const n = await send(user.id, "URGENT", "Server down");
    expect(n.deliveries.map((d) => d.channel).sort()).toEqual(["EMAIL", "PUSH", "SMS"]);
    for (const d of n.deliveries) await settled(d.id, "SENT");
    expect(requestsTo(sms, user.phone).map((r) => (r.body as { title: string }).title)).toEqual([
      "Server down",
    ]);
    expect(requestsTo(push, user.token)).toHaveLength(1);
    expect(mailsTo(user.email)).toHaveLength(1);
    // HIGH on this route: no SMS.
    const high = await send(user.id, "HIGH");
    expect(high.deliveries.map((d) => d.channel).sort()).toEqual(["EMAIL", "PUSH"]);
  });

  it("DAILY_DIGEST holds NORMAL/HIGH email for one digest job; URGENT bypasses; sendDigestNow sends one email", async () => {
    const user = await recipient("DAILY_DIGEST");
    const a = await send(user.id, "NORMAL", "Weekly report ready");
    const b = await send(user.id, "HIGH", "Invoice overdue");
    for (const n of [a, b]) {
      expect(n.deliveries.map((d) => [d.channel, d.state, d.viaDigest])).toEqual([["EMAIL", "QUEUED", true]]);
    }
    // One pending digest job for the user, at their digest hour (06:00 UTC), whatever the count.
    const jobs = await sql.query<{ start_after: Date; singleton_key: string }>(
      `SELECT start_after, singleton_key FROM pgboss.job
        WHERE name = 'digest.send' AND data->>'userId' = $1 AND state = 'created'`,
      [user.id],
    );
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.singleton_key).toBe(`digest:${user.id}`);
    const startAfter = new Date(jobs[0]?.start_after as Date);
    expect(startAfter.getUTCHours()).toBe(6);
    expect(startAfter.getTime()).toBeGreaterThan(Date.now());
    expect(startAfter.getTime() - Date.now()).toBeLessThanOrEqual(24 * 3600 * 1000);

    const urgent = await send(user.id, "URGENT", "Breach detected");
    expect(urgent.deliveries.map((d) => [d.channel, d.viaDigest]).sort()).toEqual([
      ["EMAIL", false],
      ["PUSH", false],
    ]);
    for (const d of urgent.deliveries) await settled(d.id, "SENT");
    expect(mailsTo(user.email).map((m) => m.subject)).toEqual(["Breach detected"]);
    expect((await deliveryOf(a.deliveries[0]?.id as string)).state).toBe("QUEUED");

    // A user may not send someone else's digest; the API key may.
    const other = await signUp(server, "dlo");
    expect((await other.client.fail(SendDigestNowDocument, { userId: user.id })).code).toBe("FORBIDDEN");
    expect((await user.client.ok(SendDigestNowDocument, {})).sendDigestNow).toBe(2);
    const digests = mailsTo(user.email).filter((m) => m.subject.startsWith("Your daily digest"));
    expect(digests).toHaveLength(1);
    expect(digests[0]?.subject).toBe("Your daily digest: 2 notifications");
    expect(digests[0]?.text).toContain("Weekly report ready");
    expect(digests[0]?.text).toContain("Invoice overdue");
    for (const n of [a, b]) {
      expect(await deliveryOf(n.deliveries[0]?.id as string)).toMatchObject({ state: "SENT", attempts: 1 });
    }
    expect((await system.ok(SendDigestNowDocument, { userId: user.username })).sendDigestNow).toBe(0);

    // The next held notification schedules a new digest job (the old one finds nothing to send).
    await send(user.id, "NORMAL", "Later one");
    const pending = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'digest.send' AND data->>'userId' = $1 AND state = 'created'`,
      [user.id],
    );
    expect(pending[0]?.n).toBe(2);
  });
});

describe("retries and final states", () => {
  it("an SMS provider failing twice, then succeeding: SENT after 3 attempts, same Idempotency-Key", {
    timeout: 60_000,
  }, async () => {
    const user = await recipient("IN_APP_EMAIL_AND_SMS");
    plans.set(user.phone, { status: 503, times: 2 });
    const n = await send(user.id, "URGENT");
    const smsDelivery = n.deliveries.find((d) => d.channel === "SMS");
    const done = await settled(smsDelivery?.id as string, "SENT");
    expect(done).toMatchObject({ attempts: 3, state: "SENT" });
    const requests = requestsTo(sms, user.phone);
    expect(requests.map((r) => r.status)).toEqual([503, 503, 200]);
    expect(new Set(requests.map((r) => r.headers["idempotency-key"]))).toEqual(new Set([smsDelivery?.id]));
  });

  it("one that always fails: DEAD after 3 attempts with lastError and a notification.failed event", {
    timeout: 60_000,
  }, async () => {
    const user = await recipient("IN_APP_EMAIL_AND_SMS");
    plans.set(user.phone, { status: 500, times: Number.POSITIVE_INFINITY });
    const n = await send(user.id, "URGENT");
    const smsDelivery = n.deliveries.find((d) => d.channel === "SMS");
    const dead = await settled(smsDelivery?.id as string, "DEAD");
    expect(dead.attempts).toBe(3);
    expect(dead.lastError).toContain("500");
    expect(requestsTo(sms, user.phone)).toHaveLength(3);
    const events = await sql.query<{ payload: Record<string, unknown> }>(
      `SELECT payload FROM "Event" WHERE type = 'notification.failed' AND "userId" = $1::uuid`,
      [user.id],
    );
    expect(events.map((e) => e.payload)).toEqual([
      {
        notificationId: n.id,
        deliveryId: smsDelivery?.id,
        channel: "SMS",
        state: "DEAD",
        error: dead.lastError,
      },
    ]);
    // The queue's job is failed too, its error kept.
    await waitUntil(
      async () =>
        (
          await sql.query(
            `SELECT 1 FROM pgboss.job WHERE name = 'delivery.send' AND data->>'deliveryId' = $1 AND state = 'failed'`,
            [smsDelivery?.id],
          )
        ).length === 1,
      { what: "job failed", timeoutMs: WAIT },
    );
  });

  it("4xx: FAILED at once, no retry; 429 is retried", async () => {
    const user = await recipient("IN_APP_EMAIL_AND_SMS");
    plans.set(user.phone, { status: 400, times: Number.POSITIVE_INFINITY });
    plans.set(user.token, { status: 429, times: 1 });
    const n = await send(user.id, "URGENT");
    const smsDelivery = n.deliveries.find((d) => d.channel === "SMS");
    const pushDelivery = n.deliveries.find((d) => d.channel === "PUSH");
    const failed = await settled(smsDelivery?.id as string, "FAILED");
    expect(failed.attempts).toBe(1);
    expect(failed.lastError).toContain("400");
    await waitUntil(
      async () =>
        (
          await sql.query(
            `SELECT 1 FROM pgboss.job WHERE name = 'delivery.send' AND data->>'deliveryId' = $1
               AND state = 'completed' AND retry_count = 0`,
            [smsDelivery?.id],
          )
        ).length === 1,
      { what: "job completed", timeoutMs: WAIT },
    );
    expect(requestsTo(sms, user.phone)).toHaveLength(1);
    const pushed = await settled(pushDelivery?.id as string, "SENT");
    expect(pushed.attempts).toBe(2);
    const failures = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "Event" WHERE type = 'notification.failed' AND "userId" = $1::uuid`,
      [user.id],
    );
    expect(failures[0]?.n).toBe(1);
  });

  it("email: a 4xx SMTP reply is retried, a 5xx fails at once", async () => {
    const user = await recipient("IN_APP_AND_EMAIL");
    smtp.refuseNext(1, 451);
    const first = await send(user.id, "NORMAL", "Try again");
    expect(await settled(first.deliveries[0]?.id as string, "SENT")).toMatchObject({ attempts: 2 });
    smtp.refuseNext(1, 550);
    const second = await send(user.id, "NORMAL", "Rejected");
    const failed = await settled(second.deliveries[0]?.id as string, "FAILED");
    expect(failed.attempts).toBe(1);
    expect(failed.lastError).toContain("550");
    expect(mailsTo(user.email).map((m) => m.subject)).toEqual(["Try again"]);
  });

  it("a repeated job (at-least-once) finds the delivery SENT and sends nothing", async () => {
    const user = await recipient("IN_APP_EMAIL_AND_SMS");
    const n = await send(user.id, "URGENT");
    const smsDelivery = n.deliveries.find((d) => d.channel === "SMS");
    await settled(smsDelivery?.id as string, "SENT");
    await sendDelivery(server.app.services, smsDelivery?.id as string, { retryCount: 0, retryLimit: 2 });
    expect(requestsTo(sms, user.phone)).toHaveLength(1);
    expect(await deliveryOf(smsDelivery?.id as string)).toMatchObject({ state: "SENT", attempts: 1 });
  });
});

describe("delivery log", () => {
  it("Target.deliveries: newest first, filtered by state, with totalCount; delivery(id) for its addressee", async () => {
    const user = await recipient("IN_APP_EMAIL_AND_SMS");
    plans.set(user.phone, { status: 422, times: 1 });
    const first = await send(user.id, "URGENT", "one");
    const second = await send(user.id, "URGENT", "two");
    const third = await send(user.id, "URGENT", "three");
    const smsOf = (n: typeof first) => n.deliveries.find((d) => d.channel === "SMS")?.id as string;
    await settled(smsOf(first), "FAILED");
    await settled(smsOf(second), "SENT");
    await settled(smsOf(third), "SENT");

    const log = await user.client.ok(TargetDeliveriesDocument, { first: 10 });
    const smsLog = log.targets.find((t) => t.kind === "SMS");
    expect(smsLog?.deliveries.totalCount).toBe(3);
    expect(smsLog?.deliveries.nodes.map((d) => d.notification.id)).toEqual([third.id, second.id, first.id]);
    const failedOnly = await user.client.ok(TargetDeliveriesDocument, { state: "FAILED" });
    const failedSms = failedOnly.targets.find((t) => t.kind === "SMS")?.deliveries;
    expect(failedSms?.totalCount).toBe(1);
    expect(failedSms?.nodes[0]).toMatchObject({ id: smsOf(first), state: "FAILED", attempts: 1 });
    const paged = await user.client.ok(TargetDeliveriesDocument, { first: 2 });
    const page = paged.targets.find((t) => t.kind === "SMS")?.deliveries;
    expect(page?.pageInfo.hasNextPage).toBe(true);

    // delivery(id): the addressee and the API key; anyone else NOT_FOUND.
    expect((await user.client.ok(DeliveryDocument, { id: smsOf(first) })).delivery.id).toBe(smsOf(first));
    const stranger = await signUp(server, "dls");
    expect((await stranger.client.fail(DeliveryDocument, { id: smsOf(first) })).code).toBe("NOT_FOUND");
  });
});

describe("no provider configured", () => {
  const bareDb = useScratchDatabase("delivery_bare_test");
  const bare = useServer(() => ({
    DATABASE_URL: bareDb.url,
    JOB_POLL_SECONDS: "0.5",
    JOB_RETRY_DELAY_SECONDS: "1",
  }));
  const bareSql = useSql(() => bareDb.url);

  it("fails the delivery at once with 'no email provider configured' and a notification.failed event", async () => {
    const user = await signUp(bare, "dlb");
    await user.client.ok(AddTargetDocument, { kind: "EMAIL", address: `${user.username}@example.test` });
    const key = bare.client.as({ apiKey: TEST_API_KEY });
    const { sendNotification } = await key.ok(SendNotificationWithDeliveriesDocument, {
      userId: user.id,
      title: "Hello",
      body: "there",
    });
    const id = sendNotification.deliveries[0]?.id as string;
    await waitUntil(async () => (await key.ok(DeliveryDocument, { id })).delivery.state === "FAILED", {
      what: "FAILED",
      timeoutMs: WAIT,
    });
    const { delivery } = await key.ok(DeliveryDocument, { id });
    expect(delivery).toMatchObject({ attempts: 1, lastError: "no email provider configured" });
    const rows = await bareSql.query<{ payload: Record<string, unknown> }>(
      `SELECT payload FROM "Event" WHERE type = 'notification.failed' AND "userId" = $1::uuid`,
      [user.id],
    );
    expect(rows.map((r) => r.payload.error)).toEqual(["no email provider configured"]);
  });
});
