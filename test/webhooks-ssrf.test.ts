// Webhook endpoints may only be public addresses (WEBHOOK_ALLOW_PRIVATE unset): loopback, private,
// link-local / metadata, CGNAT, multicast, unspecified, IPv6 unique-local / link-local and
// IPv4-mapped addresses are refused when the endpoint is created or its url changed (BAD_USER_INPUT
// on `url`, names resolved through DNS: `localhost` here, from the hosts file), and refused AGAIN
// when a delivery connects, since DNS can change after the url was accepted. And the delivery log
// keeps the answer's status, never its body.
//
// Loopback only: every refused address is refused before any connection is made; the "DNS changed"
// case is staged by rewriting a stored url to the local receiver (as `localhost` and as 127.0.0.1),
// which is what a name re-pointed at an internal address looks like to the worker. Endpoints that
// must never be called subscribe to an event type this file never logs, and are deleted at once
// should a creation succeed (so the unfixed code, which accepts them, sends nothing anywhere).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Wh_CreateDocument,
  Wh_DeleteDocument,
  Wh_DeliveriesDocument,
  Wh_UpdateDocument,
} from "./gql/graphql.ts";
import { send } from "./helpers/actions.ts";
import type { Client } from "./helpers/client.ts";
import { type Receiver, startReceiver } from "./helpers/receiver.ts";
import { waitUntil } from "./helpers/rt-realtime.ts";
import { signUp, startServer, TEST_API_KEY, type TestServer, type TestUser } from "./helpers/server.ts";
import { createScratchDatabase, type ScratchDatabase } from "./pg.ts";

const FAST = {
  JOB_POLL_SECONDS: "0.5",
  JOB_RETRY_DELAY_SECONDS: "1",
  EVENT_POLL_MS: "200",
  JOB_MAX_ATTEMPTS: "1",
};
const WAIT = 30_000;
/** Logged by nothing in this file: an endpoint subscribed to it is never called. */
const NEVER = ["broadcast.completed"];

let scratch: ScratchDatabase;
let guarded: TestServer;
let admin: Client;
let alice: TestUser;
let bob: TestUser;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  scratch = await createScratchDatabase("webhooks_ssrf");
  guarded = await startServer({ DATABASE_URL: scratch.url, WEBHOOK_ALLOW_PRIVATE: "false", ...FAST });
  admin = guarded.client.as({ apiKey: TEST_API_KEY });
  alice = await signUp(guarded, "ssa");
  bob = await signUp(guarded, "ssb");
});

afterAll(async () => {
  await guarded?.stop();
  await receiver?.close();
  await scratch?.drop();
});

const port = () => new URL(receiver.url).port;

/** Non-public addresses, as URLs an attacker would try. */
const REFUSED = () => [
  "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
  "http://[fd00:ec2::254]/latest/meta-data/",
  "http://100.100.100.200/latest/meta-data/",
  `http://127.0.0.1:${port()}/`,
  `http://localhost:${port()}/`,
  "http://127.1/",
  "http://2130706433/",
  "http://0x7f.0.0.1/",
  "http://0.0.0.0/",
  "http://[::]/",
  "http://[::1]/",
  "http://[::ffff:127.0.0.1]/",
  "http://[::ffff:a9fe:a9fe]/",
  "http://10.0.0.1/",
  "http://172.16.5.4/",
  "http://192.168.1.1/",
  "http://100.64.0.1/",
  "http://224.0.0.1/",
  "http://255.255.255.255/",
  "http://[fc00::1]/",
  "http://[fe80::1]/",
  "http://[ff02::1]/",
  "https://127.0.0.1/",
];

describe("webhook urls must be public addresses (WEBHOOK_ALLOW_PRIVATE unset)", () => {
  it("createWebhookEndpoint refuses non-public addresses with BAD_USER_INPUT on url", async () => {
    const accepted: string[] = [];
    for (const url of REFUSED()) {
      const result = await admin.raw(Wh_CreateDocument, { url, eventTypes: NEVER });
      const endpoint = result.data?.createWebhookEndpoint?.endpoint;
      if (endpoint) await admin.ok(Wh_DeleteDocument, { id: endpoint.id }); // never let it be called
      const error = result.errors?.[0];
      if (error?.extensions?.code !== "BAD_USER_INPUT" || error.extensions.field !== "url") {
        accepted.push(`${url}: ${error ? `${error.extensions?.code} ${error.message}` : "accepted"}`);
      }
    }
    expect(accepted).toEqual([]);
  });

  it("updateWebhookEndpoint refuses them too, and the stored url stays as it was", async () => {
    // A public literal that is never called (NEVER, and paused at once): no DNS, no traffic.
    const { createWebhookEndpoint } = await admin.ok(Wh_CreateDocument, {
      url: "http://93.184.215.14/hook",
      eventTypes: NEVER,
    });
    const { id } = createWebhookEndpoint.endpoint;
    await admin.ok(Wh_UpdateDocument, { id, active: false });
    for (const url of REFUSED()) {
      const { code, field } = await admin.fail(Wh_UpdateDocument, { id, url }).catch(async (e: Error) => {
        await admin.ok(Wh_DeleteDocument, { id });
        throw e;
      });
      expect([url, code, field]).toEqual([url, "BAD_USER_INPUT", "url"]);
    }
    const [row] = await guarded.app.services.prisma.$queryRaw<{ url: string }[]>`
      SELECT url FROM "WebhookEndpoint" WHERE id = ${id}::uuid`;
    expect(row?.url).toBe("http://93.184.215.14/hook");
    await admin.ok(Wh_DeleteDocument, { id });
  });

  it("a name that does not resolve is BAD_USER_INPUT on url", async () => {
    const result = await admin.raw(Wh_CreateDocument, {
      url: "https://no-such-host.invalid/hook",
      eventTypes: NEVER,
    });
    const endpoint = result.data?.createWebhookEndpoint?.endpoint;
    if (endpoint) await admin.ok(Wh_DeleteDocument, { id: endpoint.id });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "url" });
  });

  it("checks the address again when it connects: a url now pointing at loopback is not called", async () => {
    // Accepted as public (paused before anything is logged), then its address "changes": the row
    // is rewritten to the local receiver, by name and by literal, as DNS re-pointed at it would be.
    const ids: string[] = [];
    for (const url of [`http://localhost:${port()}/rebound`, `http://127.0.0.1:${port()}/rebound`]) {
      const { createWebhookEndpoint } = await admin.ok(Wh_CreateDocument, {
        url: "http://93.184.215.14/hook",
        eventTypes: ["message.created"],
      });
      const { id } = createWebhookEndpoint.endpoint;
      await admin.ok(Wh_UpdateDocument, { id, active: false });
      await guarded.app.services.prisma.$executeRaw`
        UPDATE "WebhookEndpoint" SET url = ${url} WHERE id = ${id}::uuid`;
      await admin.ok(Wh_UpdateDocument, { id, active: true });
      ids.push(id);
    }
    await send(alice, { to: bob.username, content: "rebinding" });

    const logs = async () =>
      Promise.all(
        ids.map(
          async (id) => (await admin.ok(Wh_DeliveriesDocument, { id, first: 5 })).webhookEndpoint.deliveries,
        ),
      );
    await waitUntil(
      "both deliveries to finish their one attempt",
      async () =>
        (await logs()).every((log) => log.nodes.some((d) => d.state === "DEAD" || d.state === "SENT")),
      WAIT,
    );
    for (const log of await logs()) {
      expect(log.nodes).toHaveLength(1);
      expect(log.nodes[0]).toMatchObject({ state: "DEAD", attempts: 1, responseStatus: null });
      expect(log.nodes[0]?.lastError).toMatch(/^Refused: .*127\.0\.0\.1.* non-public address \(loopback\)/);
    }
    expect(receiver.requests.filter((r) => r.path === "/rebound")).toEqual([]);
    for (const id of ids) await admin.ok(Wh_DeleteDocument, { id });
  });
});

describe("the delivery log keeps the status, not the answer", () => {
  let scratch2: ScratchDatabase;
  let open: TestServer;

  beforeAll(async () => {
    scratch2 = await createScratchDatabase("webhooks_ssrf_body");
    // Private addresses allowed: the receiver is on loopback.
    open = await startServer({ DATABASE_URL: scratch2.url, WEBHOOK_ALLOW_PRIVATE: "true", ...FAST });
  });

  afterAll(async () => {
    await open?.stop();
    await scratch2?.drop();
  });

  it("a failing endpoint's body is not stored in lastError", async () => {
    const failing = await startReceiver({ alwaysFail: true, status: 500 });
    try {
      const system = open.client.as({ apiKey: TEST_API_KEY });
      const { createWebhookEndpoint } = await system.ok(Wh_CreateDocument, {
        url: `${failing.url}body`,
        eventTypes: ["message.created"],
      });
      const { id } = createWebhookEndpoint.endpoint;
      const [carol, dan] = [await signUp(open, "ssc"), await signUp(open, "ssd")];
      await send(carol, { to: dan.username, content: "answer me" });
      await waitUntil("the failed attempt", () => failing.requests.length > 0, WAIT);
      await waitUntil(
        "DEAD in the log",
        async () =>
          (await system.ok(Wh_DeliveriesDocument, { id, first: 5 })).webhookEndpoint.deliveries.nodes[0]
            ?.state === "DEAD",
        WAIT,
      );
      const [dead] = (await system.ok(Wh_DeliveriesDocument, { id, first: 5 })).webhookEndpoint.deliveries
        .nodes;
      // The receiver answered {"ok":false,"id":"rcv-0"}: none of it reaches the log.
      expect(dead).toMatchObject({ state: "DEAD", responseStatus: 500, lastError: "HTTP 500" });
    } finally {
      await failing.close();
    }
  });
});
