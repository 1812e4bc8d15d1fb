// The `events` polling query: paging by cursor returns every event once and in order (also while
// events are being written), the types filter, what a user sees versus the API key, and the errors.
// On a database of its own, so "the API key sees all" can be checked against the whole log.
import { beforeAll, describe, expect, it } from "vitest";
import { pruneEvents } from "../src/events/log.ts";
import { encodeCursor } from "../src/events/position.ts";
import { EventsDocument, type EventsQuery } from "./gql/graphql.ts";
import { createGroup, send } from "./helpers/actions.ts";
import type { Client } from "./helpers/client.ts";
import { signUp, TEST_API_KEY, type TestUser, useScratchDatabase, useServer } from "./helpers/server.ts";
import { waitUntil } from "./helpers/wait.ts";

type Edge = EventsQuery["events"]["edges"][number];

const scratch = useScratchDatabase("events_query");
const server = useServer(() => ({ DATABASE_URL: scratch.url, MAX_PAGE_SIZE: "10" }));
let admin: Client;
let ann: TestUser;
let ben: TestUser;
let cat: TestUser;

/** Every event in the log, in log order, straight from the table. */
async function logIds(): Promise<string[]> {
  const rows = await server.app.services.prisma.$queryRaw<{ id: bigint }[]>`
    SELECT id FROM "Event" ORDER BY txid, id`;
  return rows.map((r) => r.id.toString());
}

/** Pages through `events` from `after` until there is no next page. */
async function drain(client: Client, vars: { after?: string; types?: string[]; first?: number }) {
  const edges: Edge[] = [];
  let after = vars.after;
  let pages = 0;
  for (;;) {
    const { events } = await client.ok(EventsDocument, { ...vars, after });
    edges.push(...events.edges);
    pages += 1;
    after = events.pageInfo.endCursor ?? undefined;
    if (!events.pageInfo.hasNextPage) return { edges, pages, endCursor: after };
  }
}

/**
 * Pages from `after` until it has as many events as the log holds: events show up once every
 * transaction older than them has finished (the log's horizon), so a poll right after a write may
 * not have it yet. Pages are accumulated, never re-read, so a gap or a repeat still shows.
 */
async function collect(
  client: Client,
  vars: { after?: string; types?: string[]; first?: number },
  total: () => Promise<number>,
) {
  const edges: Edge[] = [];
  let after = vars.after;
  await waitUntil(
    async () => {
      const page = await drain(client, { ...vars, after });
      edges.push(...page.edges);
      after = page.endCursor;
      return edges.length >= (await total());
    },
    { what: "the events", timeoutMs: 30_000 },
  );
  return { edges, endCursor: after };
}

const logSize = async () => (await logIds()).length;

beforeAll(async () => {
  admin = server.client.as({ apiKey: TEST_API_KEY });
  [ann, ben, cat] = [await signUp(server, "evq"), await signUp(server, "evq"), await signUp(server, "evq")];
});

describe("events polling query", () => {
  it("pages through the whole log with the API key: every event once, in log order", async () => {
    await send(ann, { to: ben.username, content: "hello" });
    await createGroup(ann, [ben, cat]);
    const { edges } = await collect(admin, { first: 4 }, logSize);
    expect(edges.length).toBeGreaterThan(4);
    expect(edges.map((e) => e.node.id)).toEqual(await logIds());
    expect(edges.every((e) => e.cursor === e.node.cursor)).toBe(true);
  });

  it("continues from endCursor while events are written between polls, without gap or repeat", async () => {
    const seen: Edge[] = [];
    let after: string | undefined;
    for (let round = 0; round < 6; round++) {
      await send(round % 2 ? ann : ben, {
        to: round % 2 ? ben.username : ann.username,
        content: `poll ${round}`,
      });
      const { events } = await admin.ok(EventsDocument, { after, first: 3 });
      seen.push(...events.edges);
      // Never null: an empty page hands back the cursor it was given.
      after = events.pageInfo.endCursor ?? undefined;
      expect(after).toBeTruthy();
    }
    const rest = await collect(admin, { after, first: 10 }, async () => (await logSize()) - seen.length);
    seen.push(...rest.edges);
    expect(seen.map((e) => e.node.id)).toEqual(await logIds());
    // Polling again at the end: an empty page that keeps the place.
    const { events } = await admin.ok(EventsDocument, { after: rest.endCursor, first: 10 });
    expect(events.edges).toEqual([]);
    expect(events.pageInfo).toEqual({ hasNextPage: false, endCursor: rest.endCursor });
    expect(events.totalCount).toBe(0);
  });

  it("filters by type, resolves the message into data, and counts what is left", async () => {
    const message = await send(ann, { to: cat.username, content: "typed" });
    const created = await server.app.services.prisma.event.count({ where: { type: "message.created" } });
    const { edges } = await collect(admin, { types: ["message.created"], first: 10 }, async () => created);
    expect(edges.every((e) => e.node.type === "message.created")).toBe(true);
    expect(edges).toHaveLength(created);
    const mine = edges.find((e) => e.node.messageId === message.id);
    expect(mine?.node).toMatchObject({
      conversationId: message.conversation.id,
      seq: message.seq,
      data: {
        messageId: message.id,
        senderId: ann.id,
        message: { id: message.id, content: "typed", senderId: ann.id, seq: message.seq },
      },
    });
    const { events } = await admin.ok(EventsDocument, { types: ["message.created"], first: 1 });
    expect(events.totalCount).toBe(created);
    expect(events.pageInfo.hasNextPage).toBe(created > 1);
  });

  it("shows a user only their own events and their conversations'", async () => {
    const group = await createGroup(ann, [ben]);
    await send(ann, { conversationId: group, content: "group hello" });
    const direct = await send(ben, { to: cat.username, content: "ben to cat" });
    const memberships = async (user: TestUser) =>
      (
        await server.app.services.prisma.membership.findMany({
          where: { userId: user.id, leftAt: null },
          select: { conversationId: true },
        })
      ).map((m) => m.conversationId);

    for (const user of [ann, ben, cat]) {
      const conversations = await memberships(user);
      // All of them: the same as the log filtered by hand.
      const expected = await server.app.services.prisma.$queryRaw<{ id: bigint }[]>`
        SELECT id FROM "Event" WHERE "userId" = ${user.id}::uuid OR "conversationId" = ANY(${conversations}::uuid[])
        ORDER BY txid, id`;
      const { edges } = await collect(user.client, { first: 10 }, async () => expected.length);
      for (const { node } of edges) {
        expect(node.userId === user.id || conversations.includes(node.conversationId ?? "")).toBe(true);
      }
      expect(edges.map((e) => e.node.id)).toEqual(expected.map((r) => r.id.toString()));
    }
    const annSees = (await drain(ann.client, { first: 10 })).edges.map((e) => e.node.conversationId);
    expect(annSees).toContain(group);
    expect(annSees).not.toContain(direct.conversation.id);
  });

  it("caps first at MAX_PAGE_SIZE and rejects bad arguments", async () => {
    const { events } = await admin.ok(EventsDocument, { first: 1000 });
    expect(events.edges).toHaveLength(10);
    expect(events.pageInfo.hasNextPage).toBe(true);

    expect((await server.client.fail(EventsDocument, {})).code).toBe("UNAUTHENTICATED");
    const types = await admin.fail(EventsDocument, { types: ["message.created", "nope.nope"] });
    expect([types.code, types.field]).toEqual(["BAD_USER_INPUT", "types"]);
    expect(types.error.message).toContain("nope.nope");
    const cursor = await admin.fail(EventsDocument, { after: "not-a-cursor" });
    expect([cursor.code, cursor.field]).toEqual(["BAD_USER_INPUT", "after"]);
    const future = await admin.fail(EventsDocument, {
      after: encodeCursor({ txid: 9_000_000_000n, id: 1n }),
    });
    expect([future.code, future.field]).toEqual(["BAD_USER_INPUT", "after"]);
    const negative = await admin.fail(EventsDocument, { first: -1 });
    expect([negative.code, negative.field]).toEqual(["BAD_USER_INPUT", "first"]);
  });

  it("answers CURSOR_EXPIRED for a pruned cursor; without one it starts at the retained log", async () => {
    const { events } = await admin.ok(EventsDocument, { first: 1 });
    const oldest = events.edges[0]?.cursor as string;
    await send(ann, { to: ben.username, content: "after the prune point" });
    // This file's own database: pruning it disturbs no other test.
    await pruneEvents(server.app.services.prisma, new Date(Date.now() + 60_000));
    const expired = await admin.fail(EventsDocument, { after: oldest });
    expect([expired.code, expired.field, expired.error.extensions?.reason]).toEqual([
      "BAD_USER_INPUT",
      "after",
      "CURSOR_EXPIRED",
    ]);
    await send(ann, { to: ben.username, content: "kept" });
    const { edges } = await collect(admin, { first: 10 }, logSize);
    expect(edges.map((e) => e.node.id)).toEqual(await logIds());
    expect(edges.length).toBeGreaterThan(0);
  });
});
