// Webhook retries and exactly-once dispatch: an endpoint that fails twice then succeeds, one that
// always fails (DEAD after JOB_MAX_ATTEMPTS), one that never answers (WEBHOOK_TIMEOUT_MS), and two
// app instances following one log. On a database of its own, so only this file's events exist.
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CreateWebhookEndpointDocument,
  DeleteWebhookEndpointDocument,
  WebhookDeliveriesDocument,
} from "./gql/graphql.ts";
import { send } from "./helpers/actions.ts";
import type { Client } from "./helpers/client.ts";
import { listenLocal } from "./helpers/listen.ts";
import { type ReceivedRequest, type Receiver, startReceiver } from "./helpers/receiver.ts";
import { signUp, TEST_API_KEY, type TestUser, useScratchDatabase, useServers } from "./helpers/server.ts";
import { waitUntil } from "./helpers/wait.ts";

const ENV = {
  JOB_POLL_SECONDS: "0.5",
  JOB_RETRY_DELAY_SECONDS: "1",
  JOB_MAX_ATTEMPTS: "3",
  EVENT_POLL_MS: "200",
  WEBHOOK_TIMEOUT_MS: "500",
};
const WAIT = 30_000;

type Body = { id: string; type: string; data: { messageId?: string; conversationId?: string } };

const scratch = useScratchDatabase("webhooks_retries");
const [one, two] = useServers(2, () => ({ DATABASE_URL: scratch.url, ...ENV }));
let admin: Client;
let alice: TestUser;
let bob: TestUser;
const receivers: Receiver[] = [];

const bodyOf = (r: ReceivedRequest) => r.body as Body;
const about = (r: Receiver, messageId: string) =>
  r.requests.filter((q) => bodyOf(q).data.messageId === messageId);

async function endpointFor(url: string) {
  return (await admin.ok(CreateWebhookEndpointDocument, { url, eventTypes: ["message.created"] }))
    .createWebhookEndpoint.endpoint;
}

async function deliveries(id: string) {
  return (await admin.ok(WebhookDeliveriesDocument, { id, first: 100 })).webhookEndpoint.deliveries;
}

beforeAll(async () => {
  admin = one.client.as({ apiKey: TEST_API_KEY });
  alice = await signUp(one, "whr");
  bob = await signUp(one, "whr");
});

afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
});

describe("webhook retries", () => {
  it("retries with backoff: a receiver that fails twice then succeeds is SENT after 3 attempts", async () => {
    const rcv = await startReceiver({ failFirst: 2, status: 503 });
    receivers.push(rcv);
    const endpoint = await endpointFor(rcv.url);
    const message = await send(alice, { to: bob.username, content: "third time lucky" });
    await waitUntil(() => about(rcv, message.id).some((r) => r.status === 200), {
      what: "the successful attempt",
      timeoutMs: WAIT,
    });
    await waitUntil(async () => (await deliveries(endpoint.id)).nodes[0]?.state === "SENT", {
      what: "SENT in the log",
      timeoutMs: WAIT,
    });

    expect(about(rcv, message.id).map((r) => r.status)).toEqual([503, 503, 200]);
    // Every attempt carries the same webhook-id, so a receiver can drop repeats.
    expect(new Set(about(rcv, message.id).map((r) => r.headers["webhook-id"])).size).toBe(1);
    const log = await deliveries(endpoint.id);
    expect(log.totalCount).toBe(1);
    expect(log.nodes[0]).toMatchObject({ state: "SENT", attempts: 3, responseStatus: 200, lastError: null });
    await admin.ok(DeleteWebhookEndpointDocument, { id: endpoint.id });
  });

  it("is DEAD with the last error after JOB_MAX_ATTEMPTS when the receiver always fails", async () => {
    const rcv = await startReceiver({ alwaysFail: true, status: 500 });
    receivers.push(rcv);
    const endpoint = await endpointFor(rcv.url);
    const message = await send(alice, { to: bob.username, content: "never arrives" });
    await waitUntil(async () => (await deliveries(endpoint.id)).nodes[0]?.state === "DEAD", {
      what: "DEAD in the log",
      timeoutMs: WAIT,
    });

    const [dead] = (await deliveries(endpoint.id)).nodes;
    expect(dead).toMatchObject({ state: "DEAD", attempts: 3, responseStatus: 500, deliveredAt: null });
    expect(dead?.lastError).toMatch(/^HTTP 500/);
    expect(about(rcv, message.id)).toHaveLength(3);
    await admin.ok(DeleteWebhookEndpointDocument, { id: endpoint.id });
  });

  it("counts an endpoint that does not answer within WEBHOOK_TIMEOUT_MS as a failed attempt", async () => {
    // Accepts the request and never answers.
    const silent: Server = createServer(() => {});
    const port = await listenLocal(silent, () => silent.address());
    try {
      const endpoint = await endpointFor(`http://127.0.0.1:${port}/hook`);
      await send(alice, { to: bob.username, content: "into the void" });
      await waitUntil(async () => ((await deliveries(endpoint.id)).nodes[0]?.attempts ?? 0) >= 1, {
        what: "a timed-out attempt in the log",
        timeoutMs: WAIT,
      });
      const [attempt] = (await deliveries(endpoint.id)).nodes;
      expect(["RETRYING", "DEAD"]).toContain(attempt?.state);
      expect(attempt?.lastError).toBe("No answer within 500 ms");
      expect(attempt?.responseStatus).toBeNull();
      await admin.ok(DeleteWebhookEndpointDocument, { id: endpoint.id });
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe("two instances", () => {
  it("deliver each event exactly once per endpoint (one dispatcher holds the log at a time)", async () => {
    const [r1, r2] = [await startReceiver(), await startReceiver()];
    receivers.push(r1, r2);
    const [e1, e2] = [await endpointFor(r1.url), await endpointFor(r2.url)];
    // Alice writes through one instance, Bob through the other, at the same time.
    const onTwo = { ...bob, client: two.client.as({ token: bob.token }) };
    const sends = [];
    for (let i = 0; i < 15; i++) {
      sends.push(send(alice, { to: bob.username, content: `a${i}` }));
      sends.push(send(onTwo, { to: alice.username, content: `b${i}` }));
    }
    const messages = await Promise.all(sends);
    const ids = new Set(messages.map((m) => m.id));
    const mine = (r: Receiver) => r.requests.filter((q) => ids.has(bodyOf(q).data.messageId ?? ""));
    await waitUntil(() => mine(r1).length >= 30 && mine(r2).length >= 30, {
      what: "every message at both endpoints",
      timeoutMs: WAIT,
    });

    for (const [rcv, endpoint] of [
      [r1, e1],
      [r2, e2],
    ] as const) {
      const received = mine(rcv).map((r) => bodyOf(r).data.messageId);
      expect(received).toHaveLength(30);
      expect(new Set(received)).toEqual(ids);
      const log = await deliveries(endpoint.id);
      // One delivery row per event: the dispatcher never dispatched an event twice.
      expect(log.totalCount).toBe(30);
      expect(new Set(log.nodes.map((d) => d.eventId)).size).toBe(30);
    }
  });
});
