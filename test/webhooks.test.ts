// Webhook endpoints end to end: admin operations and their errors, signed deliveries to real HTTP
// receivers (verified with the standardwebhooks library), type filtering, inactive endpoints, the
// delivery log and replay from a cursor. The app runs on a database of its own, so an endpoint here
// sees only this file's events (other files write to the shared one concurrently).
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pruneEvents } from "../src/events/log.ts";
import {
  CreateWebhookEndpointDocument,
  DeleteMessageDocument,
  DeleteWebhookEndpointDocument,
  EditMessageDocument,
  ReplayWebhookEventsDocument,
  RotateWebhookSecretDocument,
  SendBroadcastForWebhooksDocument,
  SendNotificationForWebhooksDocument,
  UpdateWebhookEndpointDocument,
  WebhookDeliveriesDocument,
  WebhookEndpointDocument,
  WebhookEndpointsDocument,
} from "./gql/graphql.ts";
import { send } from "./helpers/actions.ts";
import type { Client } from "./helpers/client.ts";
import { type ReceivedRequest, type Receiver, startReceiver } from "./helpers/receiver.ts";
import { signUp, TEST_API_KEY, type TestUser, useScratchDatabase, useServer } from "./helpers/server.ts";
import { waitUntil } from "./helpers/wait.ts";

const FAST = { JOB_POLL_SECONDS: "0.5", JOB_RETRY_DELAY_SECONDS: "1", EVENT_POLL_MS: "200" };
const WAIT = 30_000;

type Body = {
  id: string;
  type: string;
  cursor: string;
  createdAt: string;
  data: {
    messageId?: string;
    conversationId?: string;
    notificationId?: string;
    broadcastId?: string;
    message?: Record<string, unknown>;
  };
};

const scratch = useScratchDatabase("webhooks_test");
const server = useServer(() => ({ DATABASE_URL: scratch.url, ...FAST }));
let admin: Client;
let alice: TestUser;
let bob: TestUser;
const receivers: Receiver[] = [];

async function receiver(options: Parameters<typeof startReceiver>[0] = {}) {
  const r = await startReceiver(options);
  receivers.push(r);
  return r;
}

const bodyOf = (r: ReceivedRequest) => r.body as Body;
const headersOf = (r: ReceivedRequest) => r.headers as Record<string, string>;
/** Requests about one message, as (type) in arrival order. */
const about = (r: Receiver, messageId: string) =>
  r.requests.filter((q) => bodyOf(q).data.messageId === messageId);

async function createEndpoint(url: string, eventTypes: string[]) {
  return (await admin.ok(CreateWebhookEndpointDocument, { url, eventTypes })).createWebhookEndpoint;
}

async function deliveries(id: string, state?: "QUEUED" | "SENT" | "FAILED" | "RETRYING" | "DEAD") {
  const { webhookEndpoint } = await admin.ok(WebhookDeliveriesDocument, { id, first: 100, state });
  return webhookEndpoint.deliveries;
}

beforeAll(async () => {
  admin = server.client.as({ apiKey: TEST_API_KEY });
  alice = await signUp(server, "wha");
  bob = await signUp(server, "whb");
});

afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
});

describe("webhook administration", () => {
  it("needs the API key for every operation: UNAUTHENTICATED without credentials, FORBIDDEN for users", async () => {
    const rcv = await receiver();
    const { endpoint } = await createEndpoint(rcv.url, ["message.created"]);
    const cursor = Buffer.from("1.1").toString("base64url");
    const operations: [string, unknown][] = [
      [CreateWebhookEndpointDocument.toString(), { url: rcv.url, eventTypes: ["*"] }],
      [UpdateWebhookEndpointDocument.toString(), { id: endpoint.id, active: false }],
      [DeleteWebhookEndpointDocument.toString(), { id: endpoint.id }],
      [RotateWebhookSecretDocument.toString(), { id: endpoint.id }],
      [ReplayWebhookEventsDocument.toString(), { endpointId: endpoint.id, after: cursor }],
      [WebhookEndpointsDocument.toString(), { first: 5 }],
      [WebhookEndpointDocument.toString(), { id: endpoint.id }],
      [WebhookDeliveriesDocument.toString(), { id: endpoint.id }],
    ];
    for (const [doc, vars] of operations) {
      expect((await server.client.fail(doc, vars)).code, doc).toBe("UNAUTHENTICATED");
      expect((await alice.client.fail(doc, vars)).code, doc).toBe("FORBIDDEN");
    }
    // Nothing changed: the endpoint is still there and active.
    expect((await admin.ok(WebhookEndpointDocument, { id: endpoint.id })).webhookEndpoint.active).toBe(true);
    await admin.ok(DeleteWebhookEndpointDocument, { id: endpoint.id });
  });

  it("validates url and event types, naming the field and the unknown types", async () => {
    for (const url of ["ftp://example.com/hook", "not a url", "javascript:alert(1)"]) {
      const { code, field } = await admin.fail(CreateWebhookEndpointDocument, {
        url,
        eventTypes: ["message.created"],
      });
      expect([code, field]).toEqual(["BAD_USER_INPUT", "url"]);
    }
    const bad = await admin.fail(CreateWebhookEndpointDocument, {
      url: "https://example.com/hook",
      eventTypes: ["message.created", "message.exploded", "user.vanished"],
    });
    expect([bad.code, bad.field]).toEqual(["BAD_USER_INPUT", "eventTypes"]);
    expect(bad.error.message).toContain("message.exploded, user.vanished");
    const empty = await admin.fail(CreateWebhookEndpointDocument, {
      url: "https://example.com/hook",
      eventTypes: [],
    });
    expect([empty.code, empty.field]).toEqual(["BAD_USER_INPUT", "eventTypes"]);
    // Bad input never leaves a partial write.
    expect(
      (await admin.ok(WebhookEndpointsDocument, { first: 100 })).webhookEndpoints.nodes,
    ).not.toContainEqual(expect.objectContaining({ url: "https://example.com/hook" }));

    const missing = "00000000-0000-4000-8000-000000000000";
    expect((await admin.fail(UpdateWebhookEndpointDocument, { id: missing, active: false })).code).toBe(
      "NOT_FOUND",
    );
    expect((await admin.fail(WebhookEndpointDocument, { id: "nope" })).code).toBe("NOT_FOUND");
    expect((await admin.fail(RotateWebhookSecretDocument, { id: missing })).code).toBe("NOT_FOUND");
    expect((await admin.fail(DeleteWebhookEndpointDocument, { id: missing })).code).toBe("NOT_FOUND");
  });

  it("creates, lists, updates, rotates and deletes endpoints; the secret is Standard Webhooks'", async () => {
    const created = (
      await admin.ok(CreateWebhookEndpointDocument, {
        url: "https://hooks.example.com/a",
        eventTypes: ["message.created", "message.created", "*"],
        description: "  n8n flow  ",
      })
    ).createWebhookEndpoint;
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(created.endpoint).toMatchObject({ eventTypes: ["*"], description: "n8n flow", active: true });
    const id = created.endpoint.id;

    const updated = await admin.ok(UpdateWebhookEndpointDocument, {
      id,
      url: "http://hooks.example.com/b",
      eventTypes: ["message.edited", "notification.created"],
      active: false,
    });
    expect(updated.updateWebhookEndpoint).toMatchObject({
      url: "http://hooks.example.com/b",
      eventTypes: ["message.edited", "notification.created"],
      description: "n8n flow",
      active: false,
    });
    const badUpdate = await admin.fail(UpdateWebhookEndpointDocument, { id, eventTypes: ["nope"] });
    expect([badUpdate.code, badUpdate.field]).toEqual(["BAD_USER_INPUT", "eventTypes"]);
    const cleared = await admin.ok(UpdateWebhookEndpointDocument, { id, description: null });
    expect(cleared.updateWebhookEndpoint.description).toBeNull();

    const rotated = (await admin.ok(RotateWebhookSecretDocument, { id })).rotateWebhookSecret;
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(created.secret);

    const list = (await admin.ok(WebhookEndpointsDocument, { first: 100 })).webhookEndpoints;
    expect(list.nodes.map((e) => e.id)).toContain(id);
    expect(list.totalCount).toBe(list.nodes.length);

    expect((await admin.ok(DeleteWebhookEndpointDocument, { id })).deleteWebhookEndpoint).toBe(id);
    expect((await admin.fail(WebhookEndpointDocument, { id })).code).toBe("NOT_FOUND");
  });
});

describe("webhook deliveries", () => {
  it("POSTs message.created signed per Standard Webhooks; a tampered body or another secret fails", async () => {
    const rcv = await receiver();
    const { endpoint, secret } = await createEndpoint(rcv.url, ["message.created"]);
    const message = await send(alice, { to: bob.username, content: "hello webhook" });
    await waitUntil(() => about(rcv, message.id).length === 1, { what: "the webhook", timeoutMs: WAIT });

    const request = about(rcv, message.id)[0] as ReceivedRequest;
    const headers = headersOf(request);
    const verified = new Webhook(secret).verify(request.rawBody, headers) as Body;
    expect(verified).toMatchObject({
      type: "message.created",
      data: {
        conversationId: message.conversation.id,
        messageId: message.id,
        message: {
          id: message.id,
          conversationId: message.conversation.id,
          senderId: alice.id,
          seq: message.seq,
          content: "hello webhook",
          parentId: null,
        },
      },
    });
    expect(verified.id).toMatch(/^\d+$/);
    expect(headers["webhook-event"]).toBe("message.created");
    expect(headers["content-type"]).toBe("application/json");
    expect(headers["user-agent"]).toMatch(/^messaging-api-webhooks/);
    expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(Math.abs(Number(headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(300);

    const tampered = request.rawBody.replace("hello webhook", "hello webhooK");
    expect(() => new Webhook(secret).verify(tampered, headers)).toThrow(WebhookVerificationError);
    const other = (await admin.ok(RotateWebhookSecretDocument, { id: endpoint.id })).rotateWebhookSecret
      .secret;
    expect(() => new Webhook(other).verify(request.rawBody, headers)).toThrow(WebhookVerificationError);

    // The delivery log: webhook-id is the delivery's id, the body's cursor its eventCursor.
    const log = await deliveries(endpoint.id);
    expect(log.totalCount).toBe(1);
    expect(log.nodes[0]).toMatchObject({
      id: headers["webhook-id"],
      eventId: verified.id,
      eventType: "message.created",
      eventCursor: verified.cursor,
      state: "SENT",
      attempts: 1,
      responseStatus: 200,
      lastError: null,
      replay: false,
    });
    expect(log.nodes[0]?.deliveredAt).not.toBeNull();
    await admin.ok(DeleteWebhookEndpointDocument, { id: endpoint.id });
  });

  it("sends each endpoint only its event types; an inactive endpoint and history get nothing", async () => {
    const before = await send(alice, { to: bob.username, content: "before the endpoints" });
    const [edits, all, created] = [await receiver(), await receiver(), await receiver()];
    const e1 = await createEndpoint(edits.url, ["message.edited", "message.deleted"]);
    const e2 = await createEndpoint(all.url, ["*"]);
    await admin.ok(UpdateWebhookEndpointDocument, { id: e2.endpoint.id, active: false });
    const e3 = await createEndpoint(created.url, ["message.created"]);

    const message = await send(alice, { to: bob.username, content: "original" });
    await alice.client.ok(EditMessageDocument, { id: message.id, content: "edited" });
    await alice.client.ok(DeleteMessageDocument, { id: message.id });
    await waitUntil(() => about(edits, message.id).length === 2 && about(created, message.id).length === 1, {
      what: "the endpoints' events",
      timeoutMs: WAIT,
    });

    expect(
      about(edits, message.id)
        .map((r) => bodyOf(r).type)
        .sort(),
    ).toEqual(["message.deleted", "message.edited"]);
    // The object is resolved when sent: deleted by now, so its content is null.
    const deleted = about(edits, message.id).find((r) => bodyOf(r).type === "message.deleted");
    expect(bodyOf(deleted as ReceivedRequest).data.message).toMatchObject({ id: message.id, content: null });
    expect(about(created, message.id).map((r) => bodyOf(r).type)).toEqual(["message.created"]);
    // The dispatcher passed every event above in order, so anything for e2 would exist by now.
    expect(all.requests).toEqual([]);
    expect((await deliveries(e2.endpoint.id)).totalCount).toBe(0);
    // Endpoints receive only events logged after they were created.
    expect(about(created, before.id)).toEqual([]);
    expect(about(edits, before.id)).toEqual([]);

    for (const e of [e1, e2, e3]) await admin.ok(DeleteWebhookEndpointDocument, { id: e.endpoint.id });
  });

  it("carries the notification or the broadcast summary an event is about", async () => {
    const rcv = await receiver();
    const { endpoint } = await createEndpoint(rcv.url, ["notification.created", "broadcast.completed"]);
    const { sendNotification } = await admin.ok(SendNotificationForWebhooksDocument, {
      userId: alice.username,
      title: "Your order shipped",
      body: "It is on its way",
    });
    const { broadcast } = await admin.ok(SendBroadcastForWebhooksDocument, {
      input: { userIds: [alice.id, bob.id], title: "Maintenance", body: "Tonight at 10" },
    });
    const find = (type: string, key: "notificationId" | "broadcastId", id: string) =>
      rcv.requests.find((r) => bodyOf(r).type === type && bodyOf(r).data[key] === id);
    await waitUntil(
      () =>
        find("notification.created", "notificationId", sendNotification.id) !== undefined &&
        find("broadcast.completed", "broadcastId", broadcast.id) !== undefined,
      { what: "the notification and broadcast webhooks", timeoutMs: WAIT },
    );
    expect(
      bodyOf(find("notification.created", "notificationId", sendNotification.id) as ReceivedRequest).data,
    ).toMatchObject({
      userId: alice.id,
      notification: {
        id: sendNotification.id,
        userId: alice.id,
        title: "Your order shipped",
        body: "It is on its way",
      },
    });
    expect(
      bodyOf(find("broadcast.completed", "broadcastId", broadcast.id) as ReceivedRequest).data,
    ).toMatchObject({
      broadcast: { id: broadcast.id, title: "Maintenance", status: "COMPLETED", total: 2 },
    });
    await admin.ok(DeleteWebhookEndpointDocument, { id: endpoint.id });
  });

  it("replays exactly the endpoint's events after a cursor, as new deliveries marked replay", async () => {
    const rcv = await receiver();
    const { endpoint } = await createEndpoint(rcv.url, ["message.created", "message.edited"]);
    const sent = [];
    for (const content of ["one", "two", "three"])
      sent.push(await send(alice, { to: bob.username, content }));
    const [first, second, third] = sent as [(typeof sent)[0], (typeof sent)[0], (typeof sent)[0]];
    await alice.client.ok(EditMessageDocument, { id: third.id, content: "three!" });
    await waitUntil(() => rcv.requests.length === 4, { what: "the first deliveries", timeoutMs: WAIT });
    await waitUntil(async () => (await deliveries(endpoint.id, "SENT")).totalCount === 4, {
      what: "the log",
      timeoutMs: WAIT,
    });

    const log = await deliveries(endpoint.id);
    const cursorOf = (messageId: string, type = "message.created") => {
      const request = rcv.requests.find(
        (r) => bodyOf(r).data.messageId === messageId && bodyOf(r).type === type,
      );
      return bodyOf(request as ReceivedRequest).cursor;
    };
    expect(log.nodes.map((d) => d.eventCursor).sort()).toEqual(
      rcv.requests.map((r) => bodyOf(r).cursor).sort(),
    );

    // After the first message: the other two creations and the edit, once each.
    const replayed = await admin.ok(ReplayWebhookEventsDocument, {
      endpointId: endpoint.id,
      after: cursorOf(first.id),
    });
    expect(replayed.replayWebhookEvents).toBe(3);
    await waitUntil(() => rcv.requests.length === 7, { what: "the replay", timeoutMs: WAIT });
    const again = rcv.requests.slice(4).map((r) => `${bodyOf(r).type}:${bodyOf(r).data.messageId}`);
    expect(again.sort()).toEqual(
      [`message.created:${second.id}`, `message.created:${third.id}`, `message.edited:${third.id}`].sort(),
    );
    // Same event ids as the first time, new webhook-ids.
    const firstIds = new Set(rcv.requests.slice(0, 4).map((r) => bodyOf(r).id));
    for (const r of rcv.requests.slice(4)) expect(firstIds.has(bodyOf(r).id)).toBe(true);
    const webhookIds = new Set(rcv.requests.map((r) => headersOf(r)["webhook-id"]));
    expect(webhookIds.size).toBe(7);

    // Narrowed by type; a type the endpoint does not take sends nothing.
    const edits = await admin.ok(ReplayWebhookEventsDocument, {
      endpointId: endpoint.id,
      after: cursorOf(first.id),
      types: ["message.edited"],
    });
    expect(edits.replayWebhookEvents).toBe(1);
    const none = await admin.ok(ReplayWebhookEventsDocument, {
      endpointId: endpoint.id,
      after: cursorOf(first.id),
      types: ["message.deleted"],
    });
    expect(none.replayWebhookEvents).toBe(0);
    await waitUntil(() => rcv.requests.length === 8, { what: "the second replay", timeoutMs: WAIT });

    await waitUntil(async () => (await deliveries(endpoint.id, "SENT")).totalCount === 8, {
      what: "the replays in the log",
      timeoutMs: WAIT,
    });
    const replays = (await deliveries(endpoint.id)).nodes.filter((d) => d.replay);
    expect(replays).toHaveLength(4);
    expect(replays.every((d) => d.state === "SENT" && d.attempts === 1)).toBe(true);

    // Errors: bad cursor, unknown type, unknown endpoint, inactive endpoint.
    const badCursor = await admin.fail(ReplayWebhookEventsDocument, {
      endpointId: endpoint.id,
      after: "garbage",
    });
    expect([badCursor.code, badCursor.field]).toEqual(["BAD_USER_INPUT", "after"]);
    const badType = await admin.fail(ReplayWebhookEventsDocument, {
      endpointId: endpoint.id,
      after: cursorOf(first.id),
      types: ["nope.nope"],
    });
    expect([badType.code, badType.field]).toEqual(["BAD_USER_INPUT", "types"]);
    const missing = await admin.fail(ReplayWebhookEventsDocument, {
      endpointId: "00000000-0000-4000-8000-000000000000",
      after: cursorOf(first.id),
    });
    expect(missing.code).toBe("NOT_FOUND");
    await admin.ok(UpdateWebhookEndpointDocument, { id: endpoint.id, active: false });
    expect(
      (await admin.fail(ReplayWebhookEventsDocument, { endpointId: endpoint.id, after: cursorOf(first.id) }))
        .code,
    ).toBe("CONFLICT");
    await admin.ok(UpdateWebhookEndpointDocument, { id: endpoint.id, active: true });

    // A cursor the log no longer holds (this file's own database, so pruning it disturbs no one).
    await pruneEvents(server.app.services.prisma, new Date(Date.now() + 60_000));
    const expired = await admin.fail(ReplayWebhookEventsDocument, {
      endpointId: endpoint.id,
      after: cursorOf(first.id),
    });
    expect([expired.code, expired.field, expired.error.extensions?.reason]).toEqual([
      "BAD_USER_INPUT",
      "after",
      "CURSOR_EXPIRED",
    ]);
    await admin.ok(DeleteWebhookEndpointDocument, { id: endpoint.id });
  });
});
