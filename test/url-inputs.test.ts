// Every URL argument of the schema goes through the one http(s) validator (core/input.ts
// cleanHttpUrl): `javascript:`, `data:`, `file:`, relative and malformed URLs answer BAD_USER_INPUT
// naming the argument, and nothing is written; absolute http(s) URLs are kept as given. A check over
// schema.graphql fails when a URL argument is added without being listed here. On a database of its
// own: before the fix, a bad webhook url made an endpoint that other files' servers would call.
import { readFileSync } from "node:fs";
import { buildSchema, getNamedType, isInputObjectType } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CreateWebhookEndpointDocument,
  SendBroadcastDocument,
  SendNotificationDocument,
  UpdateWebhookEndpointDocument,
  Url_UpsertUserDocument,
} from "./gql/graphql.ts";
import type { Client } from "./helpers/client.ts";
import { type Receiver, startReceiver } from "./helpers/receiver.ts";
import {
  signUp,
  TEST_API_KEY,
  type TestUser,
  uniqueName,
  useScratchDatabase,
  useServer,
} from "./helpers/server.ts";

const BAD_URLS = [
  "javascript:alert(1)",
  "JaVaScRiPt:alert(document.cookie)",
  "  javascript:alert(1)",
  "java\tscript:alert(1)",
  "javascript://example.invalid/%0Aalert(1)",
  "data:text/html,<script>alert(1)</script>",
  "vbscript:msgbox(1)",
  "file:///etc/passwd",
  "ftp://example.invalid/x",
  "//evil.invalid/x",
  "/relative/path",
  "example.invalid",
  "https://",
  "http://exa mple.invalid/",
  "https://example.invalid/\n<script>",
  "",
  `https://example.invalid/${"a".repeat(2100)}`,
];

const GOOD_URLS = [
  "https://example.com/a?b=c#d",
  "http://example.com",
  "https://shop.example.com/orders/B-77",
];

// The receiver listens on 127.0.0.1, which only WEBHOOK_ALLOW_PRIVATE permits.
const scratch = useScratchDatabase("url_inputs");
const server = useServer(() => ({ DATABASE_URL: scratch.url, WEBHOOK_ALLOW_PRIVATE: "true" }));
let system: Client;
let alice: TestUser;
let receiver: Receiver;
let endpointId: string;

beforeAll(async () => {
  receiver = await startReceiver();
  system = server.client.as({ apiKey: TEST_API_KEY });
  alice = await signUp(server, "url");
  // Paused at once: it only serves updateWebhookEndpoint's url checks and receives nothing.
  const created = await system.ok(CreateWebhookEndpointDocument, {
    url: receiver.url,
    eventTypes: ["broadcast.completed"],
  });
  endpointId = created.createWebhookEndpoint.endpoint.id;
  await system.ok(UpdateWebhookEndpointDocument, { id: endpointId, active: false });
});

afterAll(async () => {
  await receiver?.close();
});

/** Each URL argument: how to send a value for it. */
const SENDERS: Record<string, (url: string) => ReturnType<Client["fail"]>> = {
  "Mutation.sendNotification.actionUrl": (actionUrl) =>
    system.fail(SendNotificationDocument, { userId: alice.id, title: "t", body: "b", actionUrl }),
  "BroadcastInput.actionUrl": (actionUrl) =>
    system.fail(SendBroadcastDocument, { input: { title: "t", body: "b", userIds: [alice.id], actionUrl } }),
  "Mutation.upsertUser.avatarUrl": (avatarUrl) =>
    system.fail(Url_UpsertUserDocument, {
      externalId: uniqueName("ext"),
      username: uniqueName("url"),
      displayName: "Url",
      avatarUrl,
    }),
  "Mutation.createWebhookEndpoint.url": (url) =>
    system.fail(CreateWebhookEndpointDocument, { url, eventTypes: ["message.created"] }),
  "Mutation.updateWebhookEndpoint.url": (url) =>
    system.fail(UpdateWebhookEndpointDocument, { id: endpointId, url }),
};

/** Row counts of the tables a URL argument writes to. */
const rows = async () => {
  const [row] = await server.app.services.prisma.$queryRaw<Record<string, number>[]>`
    SELECT (SELECT count(*)::int FROM "Notification") AS notifications,
           (SELECT count(*)::int FROM "Broadcast") AS broadcasts,
           (SELECT count(*)::int FROM "User") AS users,
           (SELECT count(*)::int FROM "WebhookEndpoint") AS endpoints,
           (SELECT url FROM "WebhookEndpoint" WHERE id = ${endpointId}::uuid) AS "endpointUrl"`;
  return row;
};

describe("URL arguments", () => {
  it("every URL argument of the schema is checked here", () => {
    const schema = buildSchema(readFileSync(new URL("../schema.graphql", import.meta.url), "utf8"));
    const found: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith("__")) continue;
      if (isInputObjectType(type)) {
        for (const f of Object.values(type.getFields())) {
          if (/url$/i.test(f.name) && getNamedType(f.type).name === "String")
            found.push(`${type.name}.${f.name}`);
        }
      } else if ("getFields" in type) {
        for (const field of Object.values(type.getFields())) {
          for (const arg of "args" in field ? field.args : []) {
            if (/url$/i.test(arg.name)) found.push(`${type.name}.${field.name}.${arg.name}`);
          }
        }
      }
    }
    expect(found.sort()).toEqual(Object.keys(SENDERS).sort());
  });

  it("refuses non-http(s), relative and malformed URLs with BAD_USER_INPUT naming the argument, writing nothing", async () => {
    const before = await rows();
    const accepted: string[] = [];
    for (const [name, send] of Object.entries(SENDERS)) {
      const argument = name.split(".").at(-1);
      for (const url of BAD_URLS) {
        const { code, field, error } = await send(url).catch((e: Error) => ({
          code: "ACCEPTED",
          field: undefined,
          error: e,
        }));
        if (code !== "BAD_USER_INPUT" || field !== argument) {
          accepted.push(
            `${name} ${JSON.stringify(url).slice(0, 50)}: ${code} ${field} ${error.message.slice(0, 80)}`,
          );
        }
      }
    }
    expect(accepted).toEqual([]);
    expect(await rows()).toEqual(before);
  });

  it("keeps absolute http(s) URLs as given", async () => {
    for (const actionUrl of GOOD_URLS) {
      const { sendNotification } = await system.ok(SendNotificationDocument, {
        userId: alice.id,
        title: "t",
        body: "b",
        actionUrl,
      });
      expect(sendNotification.actionUrl).toBe(actionUrl);
      const { broadcast } = await system.ok(SendBroadcastDocument, {
        input: { title: "t", body: "b", userIds: [alice.id], actionUrl },
      });
      expect(broadcast.actionUrl).toBe(actionUrl);
      const { upsertUser } = await system.ok(Url_UpsertUserDocument, {
        externalId: uniqueName("ext"),
        username: uniqueName("url"),
        displayName: "Url",
        avatarUrl: actionUrl,
      });
      expect(upsertUser.user.avatarUrl).toBe(actionUrl);
    }
  });
});
