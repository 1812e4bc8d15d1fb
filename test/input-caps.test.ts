import { beforeAll, describe, expect, it } from "vitest";
import {
  AddMembersForMembershipDocument,
  CreateGroupForMembershipDocument,
  CreateWebhookEndpointDocument,
  DeleteWebhookEndpointDocument,
  EventsDocument,
  RemoveMemberForMembershipDocument,
  ReplayWebhookEventsDocument,
  SendBroadcastDocument,
  SendNotificationDocument,
  UpdateWebhookEndpointDocument,
} from "./gql/graphql.ts";
import type { Client } from "./helpers/client.ts";
import {
  signUp,
  TEST_API_KEY,
  type TestUser,
  uniqueName,
  useScratchDatabase,
  useServer,
} from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";

const PER_CALL = 6;

/** The i-th element of a list the test set up: a clear failure instead of a non-null assertion. */
function nth<T>(list: readonly T[], i: number): T {
  const value = list[i];
  if (value === undefined) throw new Error(`no element ${i}`);
  return value;
}

const GROUP = 5;

// No job workers here: this file only checks what requests write.
const server = useServer({ JOB_CONCURRENCY: "0" });
const sql = useSql();
// Registered before the server and pool that use it: after-hooks run in reverse, so it goes last.
const scratch = useScratchDatabase("input_caps_test");
const capped = useServer(() => ({
  DATABASE_URL: scratch.url,
  JOB_CONCURRENCY: "0",
  MAX_GROUP_MEMBERS_PER_CALL: String(PER_CALL),
  MAX_GROUP_MEMBERS: String(GROUP),
  // Webhook endpoints on 127.0.0.1 (for when private addresses are refused by default).
  WEBHOOK_ALLOW_PRIVATE: "true",
}));
const cappedDb = useSql(() => scratch.url);
let system: Client;
let cappedSystem: Client;

beforeAll(() => {
  system = server.client.as({ apiKey: TEST_API_KEY });
  cappedSystem = capped.client.as({ apiKey: TEST_API_KEY });
});

const cappedCount = async (text: string, params: unknown[] = []) =>
  Number((await cappedDb.query<{ n: number }>(text, params))[0]?.n);

/** Memberships of a conversation (left ones too) and its events, to show a refused call wrote nothing. */
const groupState = async (conversationId: string) => ({
  memberships: await cappedCount(
    `SELECT count(*)::int AS n FROM "Membership" WHERE "conversationId" = $1::uuid`,
    [conversationId],
  ),
  active: await cappedCount(
    `SELECT count(*)::int AS n FROM "Membership" WHERE "conversationId" = $1::uuid AND "leftAt" IS NULL`,
    [conversationId],
  ),
  events: await cappedCount(`SELECT count(*)::int AS n FROM "Event" WHERE "conversationId" = $1::uuid`, [
    conversationId,
  ]),
});

describe("memberIds (createGroup, addMembers)", () => {
  let owner: TestUser;
  let others: TestUser[];
  beforeAll(async () => {
    owner = await signUp(capped, "cap_owner");
    others = await Promise.all(Array.from({ length: GROUP + 1 }, () => signUp(capped, "cap_user")));
  });

  const conversationsTitled = (title: string) =>
    cappedCount(`SELECT count(*)::int AS n FROM "Conversation" WHERE title = $1`, [title]);

  it("createGroup: more than MAX_GROUP_MEMBERS_PER_CALL entries, or a group over MAX_GROUP_MEMBERS, is refused", async () => {
    // Entries are counted as sent: the same user named PER_CALL + 1 times is already too many.
    const title = uniqueName("cap_group");
    const tooMany = Array.from({ length: PER_CALL + 1 }, () => nth(others, 0).username);
    const perCall = await owner.client.fail(CreateGroupForMembershipDocument, { title, memberIds: tooMany });
    expect([perCall.code, perCall.field]).toEqual(["BAD_USER_INPUT", "memberIds"]);
    expect(perCall.error.message).toContain(`at most ${PER_CALL}`);

    // GROUP others and the owner: one member too many.
    const tooBig = await owner.client.fail(CreateGroupForMembershipDocument, {
      title,
      memberIds: others.slice(0, GROUP).map((u) => u.id),
    });
    expect([tooBig.code, tooBig.field]).toEqual(["BAD_USER_INPUT", "memberIds"]);
    expect(tooBig.error.message).toContain(`at most ${GROUP} members`);
    expect(await conversationsTitled(title)).toBe(0);

    // Exactly full is fine.
    const { createGroup } = await owner.client.ok(CreateGroupForMembershipDocument, {
      title,
      memberIds: others.slice(0, GROUP - 1).map((u) => u.id),
    });
    expect(createGroup.members).toHaveLength(GROUP);
    expect(await conversationsTitled(title)).toBe(1);
  });

  it("createGroup: the default cap is 100 entries per call", async () => {
    const me = await signUp(server, "cap_default");
    const peer = await signUp(server, "cap_default");
    const title = uniqueName("cap_default");
    const r = await me.client.fail(CreateGroupForMembershipDocument, {
      title,
      memberIds: Array.from({ length: 101 }, () => peer.username),
    });
    expect([r.code, r.field]).toEqual(["BAD_USER_INPUT", "memberIds"]);
    expect(await sql.count(`SELECT count(*)::int AS n FROM "Conversation" WHERE title = $1`, [title])).toBe(
      0,
    );
    const ok = await me.client.ok(CreateGroupForMembershipDocument, {
      title,
      memberIds: Array.from({ length: 100 }, () => peer.username),
    });
    expect(ok.createGroup.members).toHaveLength(2);
  });

  it("addMembers: refuses more entries than the cap and growing a full group, writing nothing", async () => {
    const { createGroup } = await owner.client.ok(CreateGroupForMembershipDocument, {
      title: uniqueName("cap_add"),
      memberIds: others.slice(0, GROUP - 1).map((u) => u.id),
    });
    const conversationId = createGroup.id;
    const before = await groupState(conversationId);
    expect(before.active).toBe(GROUP);

    const outsider = nth(others, GROUP);
    const full = await owner.client.fail(AddMembersForMembershipDocument, {
      conversationId,
      memberIds: [outsider.id],
    });
    expect([full.code, full.field]).toEqual(["BAD_USER_INPUT", "memberIds"]);
    expect(full.error.message).toContain(`at most ${GROUP} members`);

    const perCall = await owner.client.fail(AddMembersForMembershipDocument, {
      conversationId,
      memberIds: Array.from({ length: PER_CALL + 1 }, () => outsider.username),
    });
    expect([perCall.code, perCall.field]).toEqual(["BAD_USER_INPUT", "memberIds"]);
    expect(await groupState(conversationId)).toEqual(before);

    // Naming people who are already members adds no one, so a full group accepts it.
    await owner.client.ok(AddMembersForMembershipDocument, {
      conversationId,
      memberIds: [nth(others, 0).id, nth(others, 1).username],
    });
    expect(await groupState(conversationId)).toEqual(before);

    // A place freed by a removal can be taken again.
    await owner.client.ok(RemoveMemberForMembershipDocument, { conversationId, userId: nth(others, 0).id });
    const { addMembers } = await owner.client.ok(AddMembersForMembershipDocument, {
      conversationId,
      memberIds: [outsider.id],
    });
    expect(addMembers.members.map((m) => m.id)).toContain(outsider.id);
    expect((await groupState(conversationId)).active).toBe(GROUP);
    // ... and then the group is full again, whoever asks.
    const again = await owner.client.fail(AddMembersForMembershipDocument, {
      conversationId,
      memberIds: [nth(others, 0).id],
    });
    expect([again.code, again.field]).toEqual(["BAD_USER_INPUT", "memberIds"]);
  });
});

/**
 * `data` nested `depth` levels deep, sent as JSON text written by hand: JSON.stringify itself
 * overflows the stack on such a value (which is why the server must not stringify it unchecked).
 */
async function sendDeep(query: string, variables: Record<string, unknown>, depth: number) {
  const deep = `${'{"a":'.repeat(depth - 1)}{}${"}".repeat(depth - 1)}`;
  const vars = JSON.stringify(variables).replace('"__DEEP__"', deep);
  const res = await fetch(server.url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": TEST_API_KEY },
    body: `{"query":${JSON.stringify(query)},"variables":${vars}}`,
  });
  const body = (await res.json()) as { errors?: { message: string; extensions?: Record<string, unknown> }[] };
  const error = body.errors?.[0];
  return { code: error?.extensions?.code, field: error?.extensions?.field, message: error?.message };
}

/** `{"k":"xxx..."}` of exactly `bytes` bytes of JSON. */
const dataOfBytes = (bytes: number) => ({ k: "x".repeat(bytes - 8) });
/** `{"a":{"a":...{}}}`: `depth` objects nested. */
function dataOfDepth(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

describe("data (sendNotification, broadcast): MAX_DATA_BYTES 8192 and MAX_DATA_DEPTH 10 by default", () => {
  let user: TestUser;
  beforeAll(async () => {
    user = await signUp(server, "cap_data");
  });

  const notificationsOf = (userId: string) =>
    sql.count(`SELECT count(*)::int AS n FROM "Notification" WHERE "userId" = $1::uuid`, [userId]);

  it("sendNotification: refuses data over the size or depth cap with BAD_USER_INPUT (data), storing nothing", async () => {
    expect(JSON.stringify(dataOfBytes(8192))).toHaveLength(8192);
    const tooBig = [
      dataOfBytes(8193),
      // Bytes of UTF-8, not characters: 4,104 characters, 8,200 bytes.
      { k: "é".repeat(4096) },
      dataOfDepth(11),
      { list: [[[[[[[[[[[1]]]]]]]]]]] },
    ];
    for (const data of tooBig) {
      const r = await system.fail(SendNotificationDocument, {
        userId: user.id,
        title: "t",
        body: "b",
        data,
      });
      expect([r.code, r.field], JSON.stringify(data).slice(0, 40)).toEqual(["BAD_USER_INPUT", "data"]);
    }
    const deep = await sendDeep(
      SendNotificationDocument.toString(),
      { userId: user.id, title: "t", body: "b", data: "__DEEP__" },
      5000,
    );
    expect([deep.code, deep.field], deep.message).toEqual(["BAD_USER_INPUT", "data"]);
    expect(await notificationsOf(user.id)).toBe(0);

    // At the caps exactly: accepted and stored as given.
    for (const data of [dataOfBytes(8192), dataOfDepth(10)]) {
      const { sendNotification } = await system.ok(SendNotificationDocument, {
        userId: user.id,
        title: "t",
        body: "b",
        data,
      });
      expect(sendNotification.data).toEqual(data);
    }
    expect(await notificationsOf(user.id)).toBe(2);
  });

  it("broadcast: refuses data over the size or depth cap with BAD_USER_INPUT (data), creating no broadcast", async () => {
    const title = uniqueName("cap_broadcast");
    const base = { userIds: [user.id], title, body: "b" };
    for (const data of [dataOfBytes(8193), dataOfDepth(11)]) {
      const r = await system.fail(SendBroadcastDocument, { input: { ...base, data } });
      expect([r.code, r.field]).toEqual(["BAD_USER_INPUT", "data"]);
    }
    const deep = await sendDeep(
      SendBroadcastDocument.toString(),
      { input: { ...base, data: "__DEEP__" } },
      5000,
    );
    expect([deep.code, deep.field], deep.message).toEqual(["BAD_USER_INPUT", "data"]);
    const broadcasts = () =>
      sql.count(`SELECT count(*)::int AS n FROM "Broadcast" WHERE title = $1`, [title]);
    expect(await broadcasts()).toBe(0);
    const { broadcast } = await system.ok(SendBroadcastDocument, {
      input: { ...base, data: dataOfBytes(8192) },
    });
    expect(broadcast.data).toEqual(dataOfBytes(8192));
    expect(await broadcasts()).toBe(1);
  });
});

describe("event type lists (events, createWebhookEndpoint, updateWebhookEndpoint, replayWebhookEvents)", () => {
  const many = (n: number) => Array.from({ length: n }, () => "message.created");

  it("events(types:) takes at most 100 entries", async () => {
    const user = await signUp(server, "cap_events");
    const r = await user.client.fail(EventsDocument, { types: many(101), first: 1 });
    expect([r.code, r.field]).toEqual(["BAD_USER_INPUT", "types"]);
    await user.client.ok(EventsDocument, { types: many(100), first: 1 });
  });

  it("webhook endpoints take at most 100 event types, and a refused call changes nothing", async () => {
    const description = uniqueName("cap_hook");
    const url = "http://127.0.0.1:9/hook";
    const refused = await cappedSystem.fail(CreateWebhookEndpointDocument, {
      url,
      eventTypes: many(101),
      description,
    });
    expect([refused.code, refused.field]).toEqual(["BAD_USER_INPUT", "eventTypes"]);
    const endpoints = () =>
      cappedCount(`SELECT count(*)::int AS n FROM "WebhookEndpoint" WHERE description = $1`, [description]);
    expect(await endpoints()).toBe(0);

    const { createWebhookEndpoint } = await cappedSystem.ok(CreateWebhookEndpointDocument, {
      url,
      eventTypes: many(100),
      description,
    });
    const id = createWebhookEndpoint.endpoint.id;
    try {
      expect(createWebhookEndpoint.endpoint.eventTypes).toEqual(["message.created"]);
      // Inactive: nothing is ever sent to it, and replay checks its types before refusing that.
      await cappedSystem.ok(UpdateWebhookEndpointDocument, { id, active: false });
      const update = await cappedSystem.fail(UpdateWebhookEndpointDocument, { id, eventTypes: many(101) });
      expect([update.code, update.field]).toEqual(["BAD_USER_INPUT", "eventTypes"]);
      const stored = await cappedDb.query<{ eventTypes: string[] }>(
        `SELECT "eventTypes" FROM "WebhookEndpoint" WHERE id = $1::uuid`,
        [id],
      );
      expect(stored[0]?.eventTypes).toEqual(["message.created"]);

      const { events } = await cappedSystem.ok(EventsDocument, { first: 1 });
      const after = events.pageInfo.endCursor ?? "";
      const replay = await cappedSystem.fail(ReplayWebhookEventsDocument, {
        endpointId: id,
        after,
        types: many(101),
      });
      expect([replay.code, replay.field]).toEqual(["BAD_USER_INPUT", "types"]);
      expect(
        await cappedCount(`SELECT count(*)::int AS n FROM "WebhookDelivery" WHERE "endpointId" = $1::uuid`, [
          id,
        ]),
      ).toBe(0);
    } finally {
      await cappedSystem.ok(DeleteWebhookEndpointDocument, { id });
    }
  });
});
