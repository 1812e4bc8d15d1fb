// Long member lists are connections: `Conversation.memberConnection` and `Message.readByConnection`
// page through every member (Relay edges, nodes, pageInfo, totalCount), while the older plain lists
// `members` and `readBy` stay as they were for existing clients but stop at MAX_PAGE_SIZE. A server
// with MAX_PAGE_SIZE=3 keeps the groups small. Statements stay flat as lists grow.
import { describe, expect, it } from "vitest";
import {
  ConversationListsWithMembersDocument,
  ConversationMemberPageDocument,
  type ConversationMemberPageQueryVariables,
  MarkReadDocument,
  type MemberPageFieldsFragment,
  MessageListsWithReadByDocument,
  MessageReadByPageDocument,
  RemoveMemberForMembershipDocument,
} from "./gql/graphql.ts";
import { createGroup, send } from "./helpers/actions.ts";
import { signUp, type TestUser, useServer } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";
import { countStatements } from "./helpers/statement-counter.ts";

const PAGE = 3;

/** The i-th element of a list the test set up: a clear failure instead of a non-null assertion. */
function nth<T>(list: readonly T[], i: number): T {
  const value = list[i];
  if (value === undefined) throw new Error(`no element ${i}`);
  return value;
}

// No background work (job workers, the log reader's poll): the statement counts below see only
// the request's own statements.
const server = useServer({ MAX_PAGE_SIZE: String(PAGE), JOB_CONCURRENCY: "0", EVENT_POLL_MS: "600000" });
const sql = useSql();

/** Active members of a conversation in join order, straight from the database (user ids). */
async function joinOrder(conversationId: string): Promise<string[]> {
  const rows = await sql.query<{ userId: string }>(
    `SELECT "userId"::text AS "userId" FROM "Membership"
      WHERE "conversationId" = $1::uuid AND "leftAt" IS NULL ORDER BY "joinedAt", id`,
    [conversationId],
  );
  return rows.map((r) => r.userId);
}

/** An owner and `n` members (createGroup adds them in one transaction: ties on joinedAt go by id). */
async function group(n: number) {
  const owner = await signUp(server, "mc_owner");
  const members = await Promise.all(Array.from({ length: n }, () => signUp(server, "mc_member")));
  const id = await createGroup(owner, members);
  return { id, owner, members };
}

/** Every page of a connection: edges and nodes agree, and the cursors in pageInfo match the edges. */
function checkPage(page: MemberPageFieldsFragment) {
  expect(page.nodes.map((n) => n.id)).toEqual(page.edges.map((e) => e.node.id));
  for (const n of page.nodes) expect(n.user.id).toBe(n.id);
  expect(page.pageInfo.startCursor).toBe(page.edges[0]?.cursor ?? null);
  expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)?.cursor ?? null);
}

type PageArgs = Omit<ConversationMemberPageQueryVariables, "id">;

/** Walks a connection forward (`first`/`after`) and backward (`last`/`before`); returns both orders. */
async function walk(fetch: (args: PageArgs) => Promise<MemberPageFieldsFragment>, size: number) {
  const forward: string[] = [];
  let page = await fetch({ first: size });
  for (let guard = 0; guard < 50; guard++) {
    checkPage(page);
    forward.push(...page.nodes.map((n) => n.id));
    if (!page.pageInfo.hasNextPage) break;
    page = await fetch({ first: size, after: page.pageInfo.endCursor ?? "" });
  }
  const backward: string[] = [];
  page = await fetch({ last: size });
  for (let guard = 0; guard < 50; guard++) {
    checkPage(page);
    backward.unshift(...page.nodes.map((n) => n.id));
    if (!page.pageInfo.hasPreviousPage) break;
    page = await fetch({ last: size, before: page.pageInfo.startCursor ?? "" });
  }
  return { forward, backward, totalCount: page.totalCount };
}

describe("Conversation.memberConnection and the capped members list", () => {
  it("pages through every member in join order with totalCount; members stops at MAX_PAGE_SIZE", async () => {
    const g = await group(6);
    const order = await joinOrder(g.id);
    expect(order).toHaveLength(7);
    const fetch = async (args: PageArgs) => {
      const { conversation } = await nth(g.members, 2).client.ok(ConversationMemberPageDocument, {
        id: g.id,
        ...args,
      });
      if (!conversation) throw new Error("conversation missing");
      return conversation.memberConnection;
    };
    for (const size of [1, 2, 3]) {
      const { forward, backward, totalCount } = await walk(fetch, size);
      expect(forward).toEqual(order);
      expect(backward).toEqual(order);
      expect(totalCount).toBe(7);
    }

    const { conversation } = await g.owner.client.ok(ConversationMemberPageDocument, { id: g.id, first: 50 });
    // The plain list: the first MAX_PAGE_SIZE members in join order, not all seven.
    expect(conversation?.members.map((m) => m.id)).toEqual(order.slice(0, PAGE));
    // A page larger than MAX_PAGE_SIZE is cut to it, as on every connection.
    expect(conversation?.memberConnection.nodes.map((n) => n.id)).toEqual(order.slice(0, PAGE));
    expect(conversation?.memberConnection.pageInfo.hasNextPage).toBe(true);
    expect(conversation?.memberConnection.nodes[0]?.role).toBe("OWNER");
  });

  it("drops a removed member from the pages and the count; refuses a garbage cursor", async () => {
    const g = await group(4);
    const gone = nth(g.members, 1);
    await g.owner.client.ok(RemoveMemberForMembershipDocument, { conversationId: g.id, userId: gone.id });
    const { conversation } = await g.owner.client.ok(ConversationMemberPageDocument, {
      id: g.id,
      first: PAGE,
    });
    expect(conversation?.memberConnection.totalCount).toBe(4);
    const fetch = async (args: PageArgs) => {
      const { conversation } = await g.owner.client.ok(ConversationMemberPageDocument, { id: g.id, ...args });
      if (!conversation) throw new Error("conversation missing");
      return conversation.memberConnection;
    };
    const { forward } = await walk(fetch, 2);
    expect(forward).toEqual(await joinOrder(g.id));
    expect(forward).not.toContain(gone.id);
    // The removed member no longer sees the conversation at all.
    expect((await gone.client.fail(ConversationMemberPageDocument, { id: g.id, first: 2 })).code).toBe(
      "NOT_FOUND",
    );

    const b64 = (text: string) => Buffer.from(text).toString("base64");
    for (const after of ["garbage", b64("GPC:S:not-a-uuid"), b64("GPC:N:5")]) {
      const r = await g.owner.client.fail(ConversationMemberPageDocument, { id: g.id, first: 2, after });
      expect(r.code, after).toBe("BAD_USER_INPUT");
    }
  });
});

describe("Message.readByConnection and the capped readBy list", () => {
  async function readersOf(viewer: TestUser, id: string, args: PageArgs) {
    const { message } = await viewer.client.ok(MessageReadByPageDocument, { id, ...args });
    if (!message) throw new Error("message missing");
    return message;
  }

  it("pages through every reader in join order, never the sender; readBy stops at MAX_PAGE_SIZE", async () => {
    const g = await group(6);
    const m = await send(g.owner, { conversationId: g.id, content: "read me" });
    const readers = [
      nth(g.members, 0),
      nth(g.members, 2),
      nth(g.members, 3),
      nth(g.members, 4),
      nth(g.members, 5),
    ];
    for (const r of readers) await r.client.ok(MarkReadDocument, { messageId: m.id });
    // A later message moves the sender's own pointer past m; the sender still is no reader of m.
    await send(g.owner, { conversationId: g.id, content: "and me" });

    const order = (await joinOrder(g.id)).filter((id) => readers.some((r) => r.id === id));
    expect(order).toHaveLength(5);
    for (const size of [1, 2, 3]) {
      const { forward, backward, totalCount } = await walk(
        async (args) => (await readersOf(nth(g.members, 1), m.id, args)).readByConnection,
        size,
      );
      expect(forward).toEqual(order);
      expect(backward).toEqual(order);
      expect(totalCount).toBe(5);
    }
    const message = await readersOf(g.owner, m.id, { first: 2 });
    expect(message.readBy.map((r) => r.id)).toEqual(order.slice(0, PAGE));
    expect(message.readBy.every((r) => r.lastReadSeq >= 1)).toBe(true);
    expect(message.readByConnection.totalCount).toBe(5);

    // A reader who leaves is no longer counted.
    await g.owner.client.ok(RemoveMemberForMembershipDocument, {
      conversationId: g.id,
      userId: nth(readers, 0).id,
    });
    expect((await readersOf(g.owner, m.id, { first: 2 })).readByConnection.totalCount).toBe(4);
  });
});

describe("statements", () => {
  const describeLog = (log: { statements: string[] }) => log.statements.map((t) => `  ${t}`).join("\n");

  async function measure<T>(run: () => Promise<T>) {
    await run(); // warm-up: the first request of a user may differ for reasons unrelated to list size
    return countStatements(run);
  }

  /** A user in `groups` groups of `size` other members each. */
  async function userInGroups(groups: number, size: number) {
    const me = await signUp(server, "mc_qc");
    for (let i = 0; i < groups; i++) {
      const others = await Promise.all(Array.from({ length: size }, () => signUp(server, "mc_qc_peer")));
      await createGroup(me, others);
    }
    return me;
  }

  it("conversations { members memberConnection }: as many for 1 small group as for 3 large ones", {
    timeout: 120_000,
  }, async () => {
    const small = await userInGroups(1, 1);
    const big = await userInGroups(PAGE, 5);
    const s = await measure(() => small.client.ok(ConversationListsWithMembersDocument));
    const b = await measure(() => big.client.ok(ConversationListsWithMembersDocument));

    expect(s.result.conversations.nodes).toHaveLength(1);
    expect(b.result.conversations.nodes).toHaveLength(PAGE);
    for (const c of b.result.conversations.nodes) {
      expect(c.members).toHaveLength(PAGE);
      expect(c.memberConnection.totalCount).toBe(6);
      expect(c.memberConnection.nodes).toHaveLength(2);
      expect(c.memberConnection.pageInfo.hasNextPage).toBe(true);
      expect(c.memberConnection.nodes.every((n) => n.user.displayName)).toBe(true);
    }
    expect(s.log.count).toBeGreaterThan(0);
    expect(b.log.count, `small:\n${describeLog(s.log)}\nbig:\n${describeLog(b.log)}`).toBe(s.log.count);
  });

  /** A group of `size` other members with `messages` messages, each read by everyone. */
  async function groupWithReadMessages(size: number, messages: number) {
    const me = await signUp(server, "mc_qc");
    const others = await Promise.all(Array.from({ length: size }, () => signUp(server, "mc_qc_peer")));
    const id = await createGroup(me, others);
    for (let k = 0; k < messages; k++) {
      const m = await send(me, { conversationId: id, content: `m${k}` });
      for (const o of others) await o.client.ok(MarkReadDocument, { messageId: m.id });
    }
    return { me, id };
  }

  it("messages { readBy readByConnection }: as many for 1 message and 1 reader as for 6 and 5", {
    timeout: 120_000,
  }, async () => {
    const small = await groupWithReadMessages(1, 1);
    const big = await groupWithReadMessages(5, 6);
    const run = (g: { me: TestUser; id: string }) => () =>
      g.me.client.ok(MessageListsWithReadByDocument, { id: g.id });
    const s = await measure(run(small));
    const b = await measure(run(big));

    expect(s.result.conversation?.messages.nodes).toHaveLength(1);
    const nodes = b.result.conversation?.messages.nodes ?? [];
    expect(nodes).toHaveLength(PAGE);
    for (const m of nodes) {
      expect(m.readBy).toHaveLength(PAGE);
      expect(m.readByConnection.totalCount).toBe(5);
      expect(m.readByConnection.nodes).toHaveLength(2);
    }
    expect(s.log.count).toBeGreaterThan(0);
    expect(b.log.count, `small:\n${describeLog(s.log)}\nbig:\n${describeLog(b.log)}`).toBe(s.log.count);
  });
});
