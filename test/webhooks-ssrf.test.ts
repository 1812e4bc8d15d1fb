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
  CreateWebhookEndpointDocument,
  DeleteWebhookEndpointDocument,
  UpdateWebhookEndpointDocument,
  WebhookDeliveriesDocument,
} from "./gql/graphql.ts";
import { send } from "./helpers/actions.ts";
import type { Client } from "./helpers/client.ts";
import { type Receiver, startReceiver } from "./helpers/receiver.ts";
import { signUp, TEST_API_KEY, type TestUser, useScratchDatabase, useServer } from "./helpers/server.ts";
import { waitUntil } from "./helpers/wait.ts";

const FAST = {
  JOB_POLL_SECONDS: "0.5",
  JOB_RETRY_DELAY_SECONDS: "1",
  EVENT_POLL_MS: "200",
  JOB_MAX_ATTEMPTS: "1",
};
const WAIT = 30_000;
/** Logged by nothing in this file: an endpoint subscribed to it is never called. */
const NEVER = ["broadcast.completed"];

const scratch = useScratchDatabase("webhooks_ssrf");
const guarded = useServer(() => ({ DATABASE_URL: scratch.url, WEBHOOK_ALLOW_PRIVATE: "false", ...FAST }));
let admin: Client;
let alice: TestUser;
let bob: TestUser;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  admin = guarded.client.as({ apiKey: TEST_API_KEY });
  alice = await signUp(guarded, "ssa");
  bob = await signUp(guarded, "ssb");
});

afterAll(async () => {
  await receiver?.close();
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
      const result = await admin.raw(CreateWebhookEndpointDocument, { url, eventTypes: NEVER });
      const endpoint = result.data?.createWebhookEndpoint?.endpoint;
      if (endpoint) await admin.ok(DeleteWebhookEndpointDocument, { id: endpoint.id }); // never let it be called
      const error = result.errors?.[0];
      if (error?.extensions?.code !== "BAD_USER_INPUT" || error.extensions.field !== "url") {
        accepted.push(`${url}: ${error ? `${error.extensions?.code} ${error.message}` : "accepted"}`);
      }
    }
    expect(accepted).toEqual([]);
  });

  it("updateWebhookEndpoint refuses them too, and the stored url stays as it was", async () => {
    // A public literal that is never called (NEVER, and paused at once): no DNS, no traffic.
    const { createWebhookEndpoint } = await admin.ok(CreateWebhookEndpointDocument, {
      url: "http://93.184.215.14/hook",
      eventTypes: NEVER,
    });
    const { id } = createWebhookEndpoint.endpoint;
    await admin.ok(UpdateWebhookEndpointDocument, { id, active: false });
    for (const url of REFUSED()) {
      const { code, field } = await admin
        .fail(UpdateWebhookEndpointDocument, { id, url })
        .catch(async (e: Error) => {
          await admin.ok(DeleteWebhookEndpointDocument, { id });
          throw e;
        });
      expect([url, code, field]).toEqual([url, "BAD_USER_INPUT", "url"]);
    }
    const [row] = await guarded.app.services.prisma.$queryRaw<{ url: string }[]>`
      SELECT url FROM "WebhookEndpoint" WHERE id = ${id}::uuid`;
    expect(row?.url).toBe("http://93.184.215.14/hook");
    await admin.ok(DeleteWebhookEndpointDocument, { id });
  });

  it("a name that does not resolve is BAD_USER_INPUT on url", async () => {
    const result = await admin.raw(CreateWebhookEndpointDocument, {
      url: "https://no-such-host.invalid/hook",
      eventTypes: NEVER,
    });
    const endpoint = result.data?.createWebhookEndpoint?.endpoint;
    if (endpoint) await admin.ok(DeleteWebhookEndpointDocument, { id: endpoint.id });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "url" });
  });

  it("checks the address again when it connects: a url now pointing at loopback is not called", async () => {
    // Accepted as public (paused before anything is logged), then its address "changes": the row
    // is rewritten to the local receiver, by name and by literal, as DNS re-pointed at it would be.
    const ids: string[] = [];
    for (const url of [`http://localhost:${port()}/rebound`, `http://127.0.0.1:${port()}/rebound`]) {
      const { createWebhookEndpoint } = await admin.ok(CreateWebhookEndpointDocument, {
        url: "http://93.184.215.14/hook",
        eventTypes: ["message.created"],
      });
      const { id } = createWebhookEndpoint.endpoint;
      await admin.ok(UpdateWebhookEndpointDocument, { id, active: false });
      await guarded.app.services.prisma.$executeRaw`
        UPDATE "WebhookEndpoint" SET url = ${url} WHERE id = ${id}::uuid`;
      await admin.ok(UpdateWebhookEndpointDocument, { id, active: true });
      ids.push(id);
    }
    await send(alice, { to: bob.username, content: "rebinding" });

    const logs = async () =>
      Promise.all(
        ids.map(
          async (id) =>
            (await admin.ok(WebhookDeliveriesDocument, { id, first: 5 })).webhookEndpoint.deliveries,
        ),
      );
    await waitUntil(
      async () =>
        (await logs()).every((log) => log.nodes.some((d) => d.state === "DEAD" || d.state === "SENT")),
      { what: "both deliveries to finish their one attempt", timeoutMs: WAIT },
    );
    for (const log of await logs()) {
      expect(log.nodes).toHaveLength(1);
      expect(log.nodes[0]).toMatchObject({ state: "DEAD", attempts: 1, responseStatus: null });
      expect(log.nodes[0]?.lastError).toMatch(/^Refused: .*127\.0\.0\.1.* non-public address \(loopback\)/);
    }
    expect(receiver.requests.filter((r) => r.path === "/rebound")).toEqual([]);
    for (const id of ids) await admin.ok(DeleteWebhookEndpointDocument, { id });
  });
});

describe("the delivery log keeps the status, not the answer", () => {
  const scratch2 = useScratchDatabase("webhooks_ssrf_body");
  // Private addresses allowed: the receiver is on loopback.
  const open = useServer(() => ({ DATABASE_URL: scratch2.url, WEBHOOK_ALLOW_PRIVATE: "true", ...FAST }));

  it("a failing endpoint's body is not stored in lastError", async () => {
    const failing = await startReceiver({ alwaysFail: true, status: 500 });
    try {
      const system = open.client.as({ apiKey: TEST_API_KEY });
      const { createWebhookEndpoint } = await system.ok(CreateWebhookEndpointDocument, {
        url: `${failing.url}body`,
        eventTypes: ["message.created"],
      });
      const { id } = createWebhookEndpoint.endpoint;
      const [carol, dan] = [await signUp(open, "ssc"), await signUp(open, "ssd")];
      await send(carol, { to: dan.username, content: "answer me" });
      await waitUntil(() => failing.requests.length > 0, { what: "the failed attempt", timeoutMs: WAIT });
      await waitUntil(
        async () =>
          (await system.ok(WebhookDeliveriesDocument, { id, first: 5 })).webhookEndpoint.deliveries.nodes[0]
            ?.state === "DEAD",
        { what: "DEAD in the log", timeoutMs: WAIT },
      );
      const [dead] = (await system.ok(WebhookDeliveriesDocument, { id, first: 5 })).webhookEndpoint.deliveries
        .nodes;
      // The receiver answered {"ok":false,"id":"rcv-0"}: none of it reaches the log.
      expect(dead).toMatchObject({ state: "DEAD", responseStatus: 500, lastError: "HTTP 500" });
    } finally {
      await failing.close();
    }
  });
});
