// Notifications in the app: templates and their errors, sendNotification (auth, input rules),
// the viewer's list / read marks / counts, the notificationEvents stream, targets, topics and
// preferences. These users have no targets unless a test adds them, so nothing leaves the app here
// (out-of-app delivery is test/delivery.test.ts, on a database of its own).
import { randomBytes } from "node:crypto";
import type { Client as WsClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signToken } from "../src/features/users/tokens.ts";
import {
  AddTargetDocument,
  CreateTemplateDocument,
  CreateTopicDocument,
  DeleteTemplateDocument,
  MarkAllNotificationsReadDocument,
  MarkNotificationReadDocument,
  NotificationEventsDocument,
  NotificationPreferencesDocument,
  NotificationsDocument,
  RemoveTargetDocument,
  SendNotificationDocument,
  SetNotificationPreferencesDocument,
  SubscribeToTopicDocument,
  TargetsDocument,
  TemplateDocument,
  TemplatesDocument,
  TopicsDocument,
  UnsubscribeFromTopicDocument,
  UpdateTemplateDocument,
} from "./gql/graphql.ts";
import type { Client } from "./helpers/client.ts";
import { signUp, TEST_API_KEY, TEST_JWT_SECRET, type TestUser, useServer } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";
import { subscribeWs, wsClient } from "./helpers/subscriptions.ts";
import { waitUntil } from "./helpers/wait.ts";

const server = useServer({ JOB_POLL_SECONDS: "0.5", JOB_RETRY_DELAY_SECONDS: "1" });
const sql = useSql();
let system: Client;
let admin: Client;
let alice: TestUser;
let bob: TestUser;
const sockets: WsClient[] = [];

const suffix = () => randomBytes(4).toString("hex");

beforeAll(async () => {
  system = server.client.as({ apiKey: TEST_API_KEY });
  alice = await signUp(server, "nta");
  bob = await signUp(server, "ntb");
  const chief = await signUp(server, "ntc");
  await sql.query(`UPDATE "User" SET role = 'ADMIN' WHERE id = $1::uuid`, [chief.id]);
  const token = await signToken(
    { id: chief.id, role: "ADMIN" },
    new TextEncoder().encode(TEST_JWT_SECRET),
    3600,
  );
  admin = server.client.as({ token });
});

afterAll(async () => {
  for (const s of sockets) await s.dispose();
});

describe("templates", () => {
  it("has the four built-ins with their default priorities", async () => {
    const { templates } = await system.ok(TemplatesDocument);
    const builtIns = Object.fromEntries(
      templates.filter((t) => t.builtIn).map((t) => [t.key, t.defaultPriority] as const),
    );
    expect(builtIns).toEqual({
      order_shipped: "NORMAL",
      payment_failed: "HIGH",
      security_alert: "URGENT",
      welcome: "NORMAL",
    });
    const { template } = await system.ok(TemplateDocument, { key: "order_shipped" });
    expect(template?.title).toContain("{{order_id}}");
    expect((await system.ok(TemplateDocument, { key: "no_such_template" })).template).toBeNull();
  });

  it("renders variables from data and takes the template's priority", async () => {
    const { sendNotification: n } = await system.ok(SendNotificationDocument, {
      userId: alice.username,
      template: "order_shipped",
      data: { order_id: "A-1001", carrier: "DHL", tracking_number: "JD0001" },
    });
    expect(n).toMatchObject({
      type: "order_shipped",
      template: "order_shipped",
      title: "Order A-1001 has shipped",
      body: "Your order A-1001 is on its way with DHL. Tracking number: JD0001.",
      priority: "NORMAL",
      status: "DELIVERED",
      user: { id: alice.id },
    });
    const urgent = await system.ok(SendNotificationDocument, {
      userId: alice.id,
      template: "security_alert",
      data: { event: "a new sign-in", location: "Berlin" },
    });
    expect(urgent.sendNotification.priority).toBe("URGENT");
    const overridden = await system.ok(SendNotificationDocument, {
      userId: alice.id,
      template: "payment_failed",
      priority: "LOW",
      data: { amount: "$5", description: "Pro plan" },
    });
    expect(overridden.sendNotification.priority).toBe("LOW");
  });

  it("unknown template, missing variable: BAD_USER_INPUT naming the field, nothing written", async () => {
    const before = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "Notification" WHERE "userId" = $1`,
      [bob.id],
    );
    const unknown = await system.fail(SendNotificationDocument, { userId: bob.id, template: "nope_nope" });
    expect([unknown.code, unknown.field]).toEqual(["BAD_USER_INPUT", "template"]);
    const missing = await system.fail(SendNotificationDocument, {
      userId: bob.id,
      template: "order_shipped",
      data: { order_id: "A-1" },
    });
    expect([missing.code, missing.field]).toEqual(["BAD_USER_INPUT", "data"]);
    expect(missing.error.message).toContain("carrier");
    const after = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "Notification" WHERE "userId" = $1`,
      [bob.id],
    );
    expect(after).toEqual(before);
  });

  it("create / update / delete with syntax checks; built-ins cannot be deleted", async () => {
    const key = `promo_${suffix()}`;
    const bad = [
      { title: "Hello {{name", field: "title" },
      { title: "Hello name}}", field: "title" },
      { title: "Hello {{first name}}", field: "title" },
      { title: "Hello {{1st}}", field: "title" },
    ];
    for (const b of bad) {
      const r = await system.fail(CreateTemplateDocument, { key, title: b.title, body: "x" });
      expect([r.code, r.field]).toEqual(["BAD_USER_INPUT", b.field]);
    }
    const badBody = await system.fail(CreateTemplateDocument, { key, title: "ok", body: "{{a}} }}" });
    expect([badBody.code, badBody.field]).toEqual(["BAD_USER_INPUT", "body"]);
    const badKey = await system.fail(CreateTemplateDocument, { key: "Bad Key", title: "t", body: "b" });
    expect([badKey.code, badKey.field]).toEqual(["BAD_USER_INPUT", "key"]);

    const { createTemplate } = await system.ok(CreateTemplateDocument, {
      key,
      title: "{{pct}}% off",
      body: "Hi {{ name }}, {{pct}}% off today.",
      defaultPriority: "LOW",
    });
    expect(createTemplate).toMatchObject({ key, builtIn: false, defaultPriority: "LOW" });
    const dup = await system.fail(CreateTemplateDocument, { key, title: "t", body: "b" });
    expect(dup.code).toBe("CONFLICT");

    const sent = await system.ok(SendNotificationDocument, {
      userId: bob.id,
      template: key,
      data: { pct: 20, name: "Bob" },
    });
    expect(sent.sendNotification).toMatchObject({
      title: "20% off",
      body: "Hi Bob, 20% off today.",
      priority: "LOW",
    });

    const { updateTemplate } = await system.ok(UpdateTemplateDocument, {
      key,
      title: "Sale: {{pct}}%",
      body: "{{pct}}% off",
    });
    expect(updateTemplate).toMatchObject({ title: "Sale: {{pct}}%", defaultPriority: "LOW" });
    const missingUpdate = await system.fail(UpdateTemplateDocument, {
      key: `gone_${suffix()}`,
      title: "t",
      body: "b",
    });
    expect(missingUpdate.code).toBe("NOT_FOUND");

    expect((await system.fail(DeleteTemplateDocument, { key: "welcome" })).code).toBe("FORBIDDEN");
    expect((await system.ok(DeleteTemplateDocument, { key })).deleteTemplate).toBe(true);
    expect((await system.fail(DeleteTemplateDocument, { key })).code).toBe("NOT_FOUND");
  });

  it("templates are API-key only", async () => {
    expect((await alice.client.fail(TemplatesDocument)).code).toBe("FORBIDDEN");
    expect((await admin.fail(CreateTemplateDocument, { key: "x_y", title: "t", body: "b" })).code).toBe(
      "FORBIDDEN",
    );
    expect((await server.client.fail(TemplatesDocument)).code).toBe("UNAUTHENTICATED");
  });
});

describe("sendNotification", () => {
  it("API key or ADMIN; users FORBIDDEN, anonymous UNAUTHENTICATED", async () => {
    const vars = { userId: bob.id, title: "Hi", body: "there" };
    expect((await alice.client.fail(SendNotificationDocument, vars)).code).toBe("FORBIDDEN");
    expect((await server.client.fail(SendNotificationDocument, vars)).code).toBe("UNAUTHENTICATED");
    const byAdmin = await admin.ok(SendNotificationDocument, vars);
    expect(byAdmin.sendNotification).toMatchObject({ type: "custom", template: null, priority: "NORMAL" });
  });

  it("checks its input: exactly one of template | title+body, http(s) actionUrl, known user", async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ title: "t" }, "BAD_USER_INPUT", "body"],
      [{ body: "b" }, "BAD_USER_INPUT", "title"],
      [{}, "BAD_USER_INPUT", "title"],
      [{ template: "welcome", title: "t", body: "b", data: { name: "x" } }, "BAD_USER_INPUT", "template"],
      [{ title: "t", body: "b", actionUrl: "javascript:alert(1)" }, "BAD_USER_INPUT", "actionUrl"],
      [{ title: "t", body: "b", actionUrl: "not a url" }, "BAD_USER_INPUT", "actionUrl"],
      [{ title: "t", body: "b", data: [1, 2] }, "BAD_USER_INPUT", "data"],
      [{ title: "  ", body: "b" }, "BAD_USER_INPUT", "title"],
      [
        { title: "t", body: "b", scheduledAt: new Date(Date.now() - 60_000).toISOString() },
        "BAD_USER_INPUT",
        "scheduledAt",
      ],
    ];
    for (const [vars, code, field] of cases) {
      const r = await system.fail(SendNotificationDocument, { userId: bob.id, ...vars });
      expect([r.code, r.field], JSON.stringify(vars)).toEqual([code, field]);
    }
    const unknownUser = await system.fail(SendNotificationDocument, {
      userId: `nobody_${suffix()}`,
      title: "t",
      body: "b",
    });
    expect(unknownUser.code).toBe("NOT_FOUND");
    const ok = await system.ok(SendNotificationDocument, {
      userId: bob.username,
      title: "Build finished",
      body: "All green",
      priority: "HIGH",
      actionUrl: "https://ci.example.com/builds/1",
      data: { build: 1 },
    });
    expect(ok.sendNotification).toMatchObject({
      priority: "HIGH",
      actionUrl: "https://ci.example.com/builds/1",
      data: { build: 1 },
      user: { id: bob.id },
    });
  });
});

describe("the viewer's notifications", () => {
  it("lists newest first with totalCount, unreadOnly, markNotificationRead and markAllNotificationsRead", async () => {
    const carol = await signUp(server, "ntl");
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const { sendNotification } = await system.ok(SendNotificationDocument, {
        userId: carol.id,
        title: `n${i}`,
        body: `body ${i}`,
      });
      ids.push(sendNotification.id);
    }
    const page1 = await carol.client.ok(NotificationsDocument, { first: 3 });
    expect(page1.notifications.totalCount).toBe(5);
    expect(page1.unreadNotifications).toBe(5);
    expect(page1.notifications.nodes.map((n) => n.title)).toEqual(["n5", "n4", "n3"]);
    const page2 = await carol.client.ok(NotificationsDocument, {
      first: 3,
      after: page1.notifications.pageInfo.endCursor,
    });
    expect(page2.notifications.nodes.map((n) => n.title)).toEqual(["n2", "n1"]);
    expect(page2.notifications.pageInfo.hasNextPage).toBe(false);

    const read = await carol.client.ok(MarkNotificationReadDocument, { id: ids[1] as string });
    expect(read.markNotificationRead.readAt).not.toBeNull();
    // Again: same answer, no error.
    const again = await carol.client.ok(MarkNotificationReadDocument, { id: ids[1] as string });
    expect(again.markNotificationRead.readAt).toBe(read.markNotificationRead.readAt);

    const unread = await carol.client.ok(NotificationsDocument, { unreadOnly: true });
    expect(unread.notifications.totalCount).toBe(4);
    expect(unread.unreadNotifications).toBe(4);
    expect(unread.notifications.nodes.map((n) => n.title)).toEqual(["n5", "n4", "n3", "n1"]);

    // Someone else's notification, or a bad id: NOT_FOUND.
    expect((await bob.client.fail(MarkNotificationReadDocument, { id: ids[0] as string })).code).toBe(
      "NOT_FOUND",
    );
    expect((await bob.client.fail(MarkNotificationReadDocument, { id: "nope" })).code).toBe("NOT_FOUND");

    expect((await carol.client.ok(MarkAllNotificationsReadDocument)).markAllNotificationsRead).toBe(4);
    expect((await carol.client.ok(MarkAllNotificationsReadDocument)).markAllNotificationsRead).toBe(0);
    const after = await carol.client.ok(NotificationsDocument, { unreadOnly: true });
    expect([after.notifications.totalCount, after.unreadNotifications]).toEqual([0, 0]);
    expect((await carol.client.ok(NotificationsDocument, {})).notifications.totalCount).toBe(5);

    const events = await sql.query<{ payload: Record<string, unknown> }>(
      `SELECT payload FROM "Event" WHERE type = 'notification.read' AND "userId" = $1::uuid ORDER BY id`,
      [carol.id],
    );
    expect(events.map((e) => e.payload)).toEqual([{ notificationId: ids[1] }, { all: true, count: 4 }]);
    expect((await server.client.fail(NotificationsDocument, {})).code).toBe("UNAUTHENTICATED");
  });

  it("notificationEvents streams sendNotification to the addressee only", async () => {
    const dave = await signUp(server, "nte");
    const socket = wsClient(server.url, dave.token);
    sockets.push(socket);
    const sub = subscribeWs(socket, NotificationEventsDocument, {});
    // The subscription is live once the hub counts its listener.
    await waitUntil(() => server.app.services.hub.size > 0, { what: "subscription live", timeoutMs: 30_000 });
    await system.ok(SendNotificationDocument, { userId: bob.id, title: "not for dave", body: "x" });
    const { sendNotification } = await system.ok(SendNotificationDocument, {
      userId: dave.id,
      template: "welcome",
      data: { name: "Dave" },
    });
    const [first] = await sub.waitFor(1, 30_000);
    expect(first?.notificationEvents.notification).toEqual({
      id: sendNotification.id,
      title: "Welcome, Dave!",
      priority: "NORMAL",
    });
    sub.unsubscribe();
  });
});

describe("targets", () => {
  it("validates addresses per kind, refuses duplicates, lists and removes", async () => {
    const erin = await signUp(server, "ntt");
    const bad: [string, string][] = [
      ["EMAIL", "not-an-email"],
      ["EMAIL", "a@b"],
      ["SMS", "0123456"],
      ["SMS", "+0123456789"],
      ["SMS", "+1 415 555 0100"],
      ["PUSH", "   "],
    ];
    for (const [kind, address] of bad) {
      const r = await erin.client.fail(AddTargetDocument, { kind: kind as "EMAIL", address });
      expect([r.code, r.field], `${kind} ${address}`).toEqual(["BAD_USER_INPUT", "address"]);
    }
    const email = await erin.client.ok(AddTargetDocument, {
      kind: "EMAIL",
      address: "Erin@Example.com",
      label: "work",
    });
    expect(email.addTarget).toMatchObject({ kind: "EMAIL", address: "erin@example.com", label: "work" });
    const sms = await erin.client.ok(AddTargetDocument, { kind: "SMS", address: "+14155550100" });
    await erin.client.ok(AddTargetDocument, { kind: "PUSH", address: "device-token-1" });
    const dup = await erin.client.fail(AddTargetDocument, { kind: "EMAIL", address: "erin@example.com" });
    expect(dup.code).toBe("CONFLICT");

    const listed = await erin.client.ok(TargetsDocument);
    expect(listed.targets.map((t) => t.kind)).toEqual(["EMAIL", "SMS", "PUSH"]);
    expect(listed.me.targets).toHaveLength(3);

    // Only the owner (or the API key) removes; others get NOT_FOUND.
    expect((await bob.client.fail(RemoveTargetDocument, { id: sms.addTarget.id })).code).toBe("NOT_FOUND");
    expect((await erin.client.ok(RemoveTargetDocument, { id: sms.addTarget.id })).removeTarget).toBe(true);
    expect((await erin.client.fail(RemoveTargetDocument, { id: sms.addTarget.id })).code).toBe("NOT_FOUND");
    expect((await erin.client.ok(TargetsDocument)).targets).toHaveLength(2);
  });

  it("the API key adds for a named user; a user may not name someone else", async () => {
    const frank = await signUp(server, "ntf");
    const byKey = await system.ok(AddTargetDocument, {
      kind: "PUSH",
      address: "tok-frank",
      userId: frank.username,
    });
    expect(byKey.addTarget.kind).toBe("PUSH");
    expect((await frank.client.ok(TargetsDocument)).targets.map((t) => t.id)).toEqual([byKey.addTarget.id]);
    const other = await alice.client.fail(AddTargetDocument, {
      kind: "PUSH",
      address: "x",
      userId: frank.id,
    });
    expect(other.code).toBe("FORBIDDEN");
    const noUser = await system.fail(AddTargetDocument, { kind: "PUSH", address: "x" });
    expect([noUser.code, noUser.field]).toEqual(["BAD_USER_INPUT", "userId"]);
    expect((await server.client.fail(AddTargetDocument, { kind: "PUSH", address: "x" })).code).toBe(
      "UNAUTHENTICATED",
    );
  });
});

describe("topics", () => {
  it("create (API key), subscribe / unsubscribe by key or id, subscriberCount", async () => {
    const key = `news-${suffix()}`;
    expect((await alice.client.fail(CreateTopicDocument, { key, name: "News" })).code).toBe("FORBIDDEN");
    const { createTopic } = await system.ok(CreateTopicDocument, {
      key,
      name: "News",
      description: "Weekly",
    });
    expect(createTopic).toMatchObject({ key, name: "News", description: "Weekly", subscriberCount: 0 });
    expect((await system.fail(CreateTopicDocument, { key, name: "Again" })).code).toBe("CONFLICT");
    const badKey = await system.fail(CreateTopicDocument, { key: "Has Spaces", name: "x" });
    expect([badKey.code, badKey.field]).toEqual(["BAD_USER_INPUT", "key"]);

    const s1 = await alice.client.ok(SubscribeToTopicDocument, { topic: key });
    expect(s1.subscribeToTopic).toMatchObject({ subscriberCount: 1, subscribed: true });
    // Twice: still one subscription.
    expect(
      (await alice.client.ok(SubscribeToTopicDocument, { topic: key })).subscribeToTopic.subscriberCount,
    ).toBe(1);
    const s2 = await system.ok(SubscribeToTopicDocument, { topic: createTopic.id, userId: bob.username });
    expect(s2.subscribeToTopic.subscriberCount).toBe(2);
    expect((await bob.client.fail(SubscribeToTopicDocument, { topic: key, userId: alice.id })).code).toBe(
      "FORBIDDEN",
    );
    expect((await bob.client.fail(SubscribeToTopicDocument, { topic: `none-${suffix()}` })).code).toBe(
      "NOT_FOUND",
    );

    const rows = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "TopicSubscription" WHERE "topicId" = $1::uuid`,
      [createTopic.id],
    );
    expect(rows[0]?.n).toBe(2);

    const u = await alice.client.ok(UnsubscribeFromTopicDocument, { topic: key });
    expect(u.unsubscribeFromTopic).toMatchObject({ subscriberCount: 1, subscribed: false });
    expect(
      (await alice.client.ok(UnsubscribeFromTopicDocument, { topic: key })).unsubscribeFromTopic
        .subscriberCount,
    ).toBe(1);

    // topics: a connection with totalCount; this topic is in it.
    let after: string | null | undefined;
    let found = false;
    for (;;) {
      const page = await bob.client.ok(TopicsDocument, { first: 50, after });
      expect(page.topics.totalCount).toBeGreaterThan(0);
      const mine = page.topics.nodes.find((t) => t.key === key);
      if (mine) {
        expect(mine).toMatchObject({ subscriberCount: 1, subscribed: true });
        found = true;
      }
      if (!page.topics.pageInfo.hasNextPage) break;
      after = page.topics.pageInfo.endCursor;
    }
    expect(found).toBe(true);
    expect((await server.client.fail(TopicsDocument, {})).code).toBe("UNAUTHENTICATED");
  });
});

describe("preferences", () => {
  it("default IN_APP_AND_EMAIL at 8 UTC; set by the viewer or the API key; hour checked", async () => {
    const gina = await signUp(server, "ntp");
    expect((await gina.client.ok(NotificationPreferencesDocument, {})).notificationPreferences).toEqual({
      userId: gina.id,
      route: "IN_APP_AND_EMAIL",
      digestHourUtc: 8,
    });
    const set = await gina.client.ok(SetNotificationPreferencesDocument, {
      route: "DAILY_DIGEST",
      digestHourUtc: 18,
    });
    expect(set.setNotificationPreferences).toMatchObject({ route: "DAILY_DIGEST", digestHourUtc: 18 });
    const byKey = await system.ok(SetNotificationPreferencesDocument, {
      route: "IN_APP_ONLY",
      userId: gina.username,
    });
    expect(byKey.setNotificationPreferences).toMatchObject({ route: "IN_APP_ONLY", digestHourUtc: 18 });
    expect(
      (await system.ok(NotificationPreferencesDocument, { userId: gina.id })).notificationPreferences.route,
    ).toBe("IN_APP_ONLY");
    const badHour = await gina.client.fail(SetNotificationPreferencesDocument, {
      route: "DAILY_DIGEST",
      digestHourUtc: 24,
    });
    expect([badHour.code, badHour.field]).toEqual(["BAD_USER_INPUT", "digestHourUtc"]);
    expect((await bob.client.fail(NotificationPreferencesDocument, { userId: gina.id })).code).toBe(
      "FORBIDDEN",
    );
    expect((await server.client.fail(NotificationPreferencesDocument, {})).code).toBe("UNAUTHENTICATED");
  });
});
