// Connections end to end: chat(with:), conversation.messages, message.replies and conversations.
// Message connections are newest first: `first`/`after` page back in time, `last`/`before` forward.
import { describe, expect, it } from "vitest";
import {
  ChatForPaginationDocument,
  ConversationMessagesForPaginationDocument,
  ConversationsForPaginationDocument,
  CreateGroupForSetupDocument,
  type MessageConnectionForPaginationFragment,
  RepliesForPaginationDocument,
  ReplyToMessageForSetupDocument,
  SendMessageForSetupDocument,
  type SendMessageForSetupMutationVariables,
} from "./gql/graphql.ts";
import { signUp, type TestUser, uniqueName, useServer } from "./helpers/server.ts";

const server = useServer();

type Conn = MessageConnectionForPaginationFragment;
type PageArgs = { first?: number; after?: string; last?: number; before?: string };

const seqs = (c: Conn) => c.edges.map((e) => e.node.seq);
const range = (from: number, to: number) => {
  const out: number[] = [];
  for (let i = from; from >= to ? i >= to : i <= to; i += from >= to ? -1 : 1) out.push(i);
  return out;
};

/** Checks what every message page must satisfy: nodes mirror edges, endCursor/startCursor match. */
function checkShape(c: Conn) {
  expect(c.nodes.map((n) => n.id)).toEqual(c.edges.map((e) => e.node.id));
  expect(c.pageInfo.startCursor).toBe(c.edges[0]?.cursor ?? null);
  expect(c.pageInfo.endCursor).toBe(c.edges.at(-1)?.cursor ?? null);
  for (const e of c.edges) expect(e.node.parent).toBeNull();
}

type Seeded = {
  a: TestUser;
  b: TestUser;
  conversationId: string;
  /** Top-level message ids by seq (index = seq). */
  idsBySeq: Map<number, string>;
  replyIds: string[];
};

/** A direct chat with `n` top-level messages (seq 1..n, content "m<seq>", alternating senders),
 * then two replies (seq n+1, n+2), which no top-level list may show. */
async function seedChat(n = 25): Promise<Seeded> {
  const a = await signUp(server, "pag_a");
  const b = await signUp(server, "pag_b");
  const idsBySeq = new Map<number, string>();
  let conversationId = "";
  for (let i = 1; i <= n; i++) {
    const sender = i % 2 ? a : b;
    const vars: SendMessageForSetupMutationVariables = conversationId
      ? { conversationId, content: `m${i}` }
      : { to: sender === a ? b.username : a.username, content: `m${i}` };
    const { sendMessage } = await sender.client.ok(SendMessageForSetupDocument, vars);
    expect(sendMessage.seq).toBe(i);
    conversationId = sendMessage.conversation.id;
    idsBySeq.set(i, sendMessage.id);
  }
  const replyIds: string[] = [];
  for (const [parentSeq, who] of [
    [Math.min(3, n), b],
    [Math.min(20, n), a],
  ] as const) {
    const { replyToMessage } = await who.client.ok(ReplyToMessageForSetupDocument, {
      parentId: idsBySeq.get(parentSeq) ?? "",
      content: `reply to m${parentSeq}`,
    });
    expect(replyToMessage.parent?.id).toBe(idsBySeq.get(parentSeq));
    replyIds.push(replyToMessage.id);
  }
  return { a, b, conversationId, idsBySeq, replyIds };
}

/** Walks a connection to its end in one direction; returns the pages. Stops after 50 pages. */
async function walk(
  fetchPage: (args: PageArgs) => Promise<Conn>,
  size: number,
  direction: "forward" | "backward",
) {
  const pages: Conn[] = [];
  let args: PageArgs = direction === "forward" ? { first: size } : { last: size };
  for (let i = 0; i < 50; i++) {
    const page = await fetchPage(args);
    pages.push(page);
    checkShape(page);
    if (direction === "forward") {
      if (!page.pageInfo.hasNextPage) return pages;
      args = { first: size, after: page.pageInfo.endCursor ?? "" };
    } else {
      if (!page.pageInfo.hasPreviousPage) return pages;
      args = { last: size, before: page.pageInfo.startCursor ?? "" };
    }
  }
  throw new Error("connection did not end within 50 pages");
}

describe("chat(with:)", () => {
  it("pages newest first with first/after: 25..16, 15..6, 5..1; totalCount 25 (replies excluded)", async () => {
    const s = await seedChat();
    const chat = async (args: PageArgs) =>
      (await s.a.client.ok(ChatForPaginationDocument, { with: s.b.username, ...args })).chat;

    const p1 = await chat({ first: 10 });
    checkShape(p1);
    expect(seqs(p1)).toEqual(range(25, 16));
    expect(p1.edges.map((e) => e.node.content)).toEqual(range(25, 16).map((i) => `m${i}`));
    expect(p1.edges.map((e) => e.node.id)).toEqual(range(25, 16).map((i) => s.idsBySeq.get(i)));
    expect(p1.totalCount).toBe(25);
    expect(p1.pageInfo.hasNextPage).toBe(true);
    expect(p1.pageInfo.hasPreviousPage).toBe(false);

    const p2 = await chat({ first: 10, after: p1.pageInfo.endCursor ?? "" });
    checkShape(p2);
    expect(seqs(p2)).toEqual(range(15, 6));
    expect(p2.totalCount).toBe(25);
    expect(p2.pageInfo.hasNextPage).toBe(true);

    const p3 = await chat({ first: 10, after: p2.pageInfo.endCursor ?? "" });
    checkShape(p3);
    expect(seqs(p3)).toEqual(range(5, 1));
    expect(p3.totalCount).toBe(25);
    expect(p3.pageInfo.hasNextPage).toBe(false);

    const shown = [...p1.edges, ...p2.edges, ...p3.edges].map((e) => e.node.id);
    for (const replyId of s.replyIds) expect(shown).not.toContain(replyId);
  });

  it("pages oldest first with last/before: last 10 = seq 10..1, then 20..11, then 25..21", async () => {
    const s = await seedChat();
    const chat = async (args: PageArgs) =>
      (await s.b.client.ok(ChatForPaginationDocument, { with: s.a.id, ...args })).chat;

    const q1 = await chat({ last: 10 });
    checkShape(q1);
    expect(seqs(q1)).toEqual(range(10, 1));
    expect(q1.totalCount).toBe(25);
    expect(q1.pageInfo.hasPreviousPage).toBe(true);

    const q2 = await chat({ last: 10, before: q1.pageInfo.startCursor ?? "" });
    checkShape(q2);
    expect(seqs(q2)).toEqual(range(20, 11));
    expect(q2.totalCount).toBe(25);
    expect(q2.pageInfo.hasPreviousPage).toBe(true);

    const q3 = await chat({ last: 10, before: q2.pageInfo.startCursor ?? "" });
    checkShape(q3);
    expect(seqs(q3)).toEqual(range(25, 21));
    expect(q3.totalCount).toBe(25);
    expect(q3.pageInfo.hasPreviousPage).toBe(false);
  });

  it("walking every page forward and backward yields each top-level message exactly once", async () => {
    const s = await seedChat();
    const all = range(25, 1).map((i) => s.idsBySeq.get(i));
    const chat = async (args: PageArgs) =>
      (await s.a.client.ok(ChatForPaginationDocument, { with: s.b.username, ...args })).chat;
    for (const size of [1, 4, 7, 25, 30]) {
      const forward = await walk(chat, size, "forward");
      expect(forward.flatMap((p) => p.edges.map((e) => e.node.id))).toEqual(all);
      expect(forward).toHaveLength(Math.ceil(25 / size));
      for (const p of forward) expect(p.totalCount).toBe(25);

      const backward = await walk(chat, size, "backward");
      // Pages come oldest page first; within a page the list is still newest first.
      const backwardIds = backward.flatMap((p) => p.edges.map((e) => e.node.id));
      expect(new Set(backwardIds).size).toBe(backwardIds.length);
      expect([...backwardIds].sort()).toEqual([...all].sort());
      expect(
        backward
          .slice()
          .reverse()
          .flatMap((p) => p.edges.map((e) => e.node.id)),
      ).toEqual(all);
      for (const p of backward) expect(p.totalCount).toBe(25);
    }
  });

  it("keeps cursors stable: 5 new messages neither skip nor repeat anything after an old cursor", async () => {
    const s = await seedChat();
    const chat = async (args: PageArgs) =>
      (await s.a.client.ok(ChatForPaginationDocument, { with: s.b.username, ...args })).chat;
    const p1 = await chat({ first: 10 });
    const q1 = await chat({ last: 10 });
    expect(seqs(p1)).toEqual(range(25, 16));
    expect(seqs(q1)).toEqual(range(10, 1));

    // Five new top-level messages (seq 28..32, after the two replies 26 and 27).
    for (let i = 0; i < 5; i++) {
      const sender = i % 2 ? s.a : s.b;
      const { sendMessage } = await sender.client.ok(SendMessageForSetupDocument, {
        conversationId: s.conversationId,
        content: `late ${i}`,
      });
      expect(sendMessage.seq).toBe(28 + i);
    }

    const p2 = await chat({ first: 10, after: p1.pageInfo.endCursor ?? "" });
    expect(seqs(p2)).toEqual(range(15, 6));
    expect(p2.totalCount).toBe(30);
    const p3 = await chat({ first: 10, after: p2.pageInfo.endCursor ?? "" });
    expect(seqs(p3)).toEqual(range(5, 1));
    expect(p3.pageInfo.hasNextPage).toBe(false);

    const q2 = await chat({ last: 10, before: q1.pageInfo.startCursor ?? "" });
    expect(seqs(q2)).toEqual(range(20, 11));
    const q3 = await chat({ last: 10, before: q2.pageInfo.startCursor ?? "" });
    expect(seqs(q3)).toEqual([32, 31, 30, 29, 28, 25, 24, 23, 22, 21]);

    // A fresh first page starts with the new messages.
    const fresh = await chat({ first: 10 });
    expect(seqs(fresh)).toEqual([32, 31, 30, 29, 28, 25, 24, 23, 22, 21]);
    expect(fresh.totalCount).toBe(30);
  });

  it("gives the same answer by username and by id", async () => {
    const s = await seedChat(6);
    const byName = await s.a.client.ok(ChatForPaginationDocument, { with: s.b.username, first: 4 });
    const byId = await s.a.client.ok(ChatForPaginationDocument, { with: s.b.id, first: 4 });
    expect(seqs(byName.chat)).toEqual([6, 5, 4, 3]);
    expect(byId).toEqual(byName);
    const nextByName = await s.a.client.ok(ChatForPaginationDocument, {
      with: s.b.username,
      first: 4,
      after: byId.chat.pageInfo.endCursor ?? "",
    });
    expect(seqs(nextByName.chat)).toEqual([2, 1]);
  });

  it("is an empty connection (totalCount 0) with a user you never talked to", async () => {
    const s = await seedChat(3);
    const stranger = await signUp(server, "pag_stranger");
    const empty = {
      totalCount: 0,
      edges: [],
      nodes: [],
      pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
    };
    for (const who of [stranger.username, stranger.id]) {
      const { chat } = await s.a.client.ok(ChatForPaginationDocument, { with: who, first: 10 });
      expect(chat).toEqual(empty);
    }
    // The stranger's side of it is empty too.
    const theirs = await stranger.client.ok(ChatForPaginationDocument, { with: s.a.username, first: 10 });
    expect(theirs.chat).toEqual(empty);
  });

  it("answers NOT_FOUND for an unknown user", async () => {
    const me = await signUp(server, "pag_me");
    for (const unknown of [uniqueName("nobody"), "0190c0de-0000-7000-8000-000000000000", "not a user"]) {
      const r = await me.client.fail(ChatForPaginationDocument, { with: unknown, first: 10 });
      expect(r.code, unknown).toBe("NOT_FOUND");
      expect(r.result.data ?? null).toBeNull();
    }
  });
});

describe("conversation(id) { messages } and message(id) { replies }", () => {
  it("conversation.messages pages like chat: newest first, replies excluded, totalCount 25", async () => {
    const s = await seedChat();
    const messages = async (args: PageArgs) => {
      const { conversation } = await s.b.client.ok(ConversationMessagesForPaginationDocument, {
        id: s.conversationId,
        ...args,
      });
      if (!conversation) throw new Error("conversation missing");
      return conversation.messages;
    };
    const p1 = await messages({ first: 10 });
    expect(seqs(p1)).toEqual(range(25, 16));
    const p2 = await messages({ first: 10, after: p1.pageInfo.endCursor ?? "" });
    expect(seqs(p2)).toEqual(range(15, 6));
    const p3 = await messages({ first: 10, after: p2.pageInfo.endCursor ?? "" });
    expect(seqs(p3)).toEqual(range(5, 1));
    expect(p3.pageInfo.hasNextPage).toBe(false);
    const q1 = await messages({ last: 10 });
    expect(seqs(q1)).toEqual(range(10, 1));
    const q2 = await messages({ last: 10, before: q1.pageInfo.startCursor ?? "" });
    expect(seqs(q2)).toEqual(range(20, 11));
    for (const p of [p1, p2, p3, q1, q2]) {
      checkShape(p);
      expect(p.totalCount).toBe(25);
    }
    const all = range(25, 1).map((i) => s.idsBySeq.get(i));
    const forward = await walk(messages, 6, "forward");
    expect(forward.flatMap((p) => p.edges.map((e) => e.node.id))).toEqual(all);
    const backward = await walk(messages, 6, "backward");
    expect(
      backward
        .slice()
        .reverse()
        .flatMap((p) => p.edges.map((e) => e.node.id)),
    ).toEqual(all);
  });

  it("message.replies pages the thread newest first; totalCount = replyCount", async () => {
    const a = await signUp(server, "pag_a");
    const b = await signUp(server, "pag_b");
    const { sendMessage: parent } = await a.client.ok(SendMessageForSetupDocument, {
      to: b.username,
      content: "parent",
    });
    const { sendMessage: other } = await b.client.ok(SendMessageForSetupDocument, {
      conversationId: parent.conversation.id,
      content: "another thread",
    });
    await a.client.ok(ReplyToMessageForSetupDocument, {
      parentId: other.id,
      content: "not in the parent's thread",
    });
    const replyIds: string[] = []; // in seq order
    for (let i = 1; i <= 12; i++) {
      const who = i % 2 ? b : a;
      // Every fourth reply answers the previous reply: it joins the same (top-level) thread.
      const parentId = i % 4 === 0 ? (replyIds.at(-1) ?? parent.id) : parent.id;
      const { replyToMessage } = await who.client.ok(ReplyToMessageForSetupDocument, {
        parentId,
        content: `r${i}`,
      });
      expect(replyToMessage.parent?.id).toBe(parent.id);
      replyIds.push(replyToMessage.id);
    }
    const replies = async (args: PageArgs) => {
      const { message } = await b.client.ok(RepliesForPaginationDocument, { id: parent.id, ...args });
      if (!message) throw new Error("message missing");
      expect(message.replyCount).toBe(12);
      expect(message.replies.totalCount).toBe(message.replyCount);
      for (const e of message.replies.edges) expect(e.node.parent?.id).toBe(parent.id);
      return message.replies;
    };
    const newestFirst = replyIds.slice().reverse();
    const p1 = await replies({ first: 5 });
    expect(p1.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(0, 5));
    expect(p1.edges.map((e) => e.node.content)).toEqual(["r12", "r11", "r10", "r9", "r8"]);
    expect(p1.pageInfo.hasNextPage).toBe(true);
    const p2 = await replies({ first: 5, after: p1.pageInfo.endCursor ?? "" });
    expect(p2.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(5, 10));
    const p3 = await replies({ first: 5, after: p2.pageInfo.endCursor ?? "" });
    expect(p3.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(10));
    expect(p3.pageInfo.hasNextPage).toBe(false);
    const q1 = await replies({ last: 5 });
    expect(q1.edges.map((e) => e.node.content)).toEqual(["r5", "r4", "r3", "r2", "r1"]);
    const q2 = await replies({ last: 5, before: q1.pageInfo.startCursor ?? "" });
    expect(q2.edges.map((e) => e.node.content)).toEqual(["r10", "r9", "r8", "r7", "r6"]);
    // Seqs are the conversation's: strictly decreasing within the page.
    const s1 = p1.edges.map((e) => e.node.seq);
    expect(s1).toEqual(s1.slice().sort((x, y) => y - x));
  });
});

describe("conversations(first, after)", () => {
  it("lists the 7 conversations most recently active first, in pages of 3, each exactly once", async () => {
    const me = await signUp(server, "pag_me");
    const created: string[] = []; // oldest first
    const peers: TestUser[] = [];
    for (let i = 0; i < 7; i++) {
      const other = await signUp(server, "pag_peer");
      peers.push(other);
      if (i % 2 === 0) {
        const { sendMessage } = await me.client.ok(SendMessageForSetupDocument, {
          to: other.username,
          content: `hi ${i}`,
        });
        created.push(sendMessage.conversation.id);
      } else {
        const { createGroup } = await other.client.ok(CreateGroupForSetupDocument, {
          title: `group ${i}`,
          memberIds: [me.username],
        });
        created.push(createGroup.id);
      }
    }
    const list = async (args: PageArgs) =>
      (await me.client.ok(ConversationsForPaginationDocument, args)).conversations;
    const walkAll = async () => {
      const pages = [];
      let args: PageArgs = { first: 3 };
      for (let i = 0; i < 10; i++) {
        const page = await list(args);
        pages.push(page);
        expect(page.totalCount).toBe(7);
        expect(page.nodes.map((n) => n.id)).toEqual(page.edges.map((e) => e.node.id));
        expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)?.cursor ?? null);
        if (!page.pageInfo.hasNextPage) break;
        args = { first: 3, after: page.pageInfo.endCursor ?? "" };
      }
      return pages;
    };

    const pages = await walkAll();
    expect(pages.map((p) => p.edges.length)).toEqual([3, 3, 1]);
    expect(pages.flatMap((p) => p.edges.map((e) => e.node.id))).toEqual(created.slice().reverse());

    // Activity in the oldest one moves it to the top; the others keep their order.
    const oldest = created[0] ?? "";
    await me.client.ok(SendMessageForSetupDocument, { conversationId: oldest, content: "back again" });
    const after = await walkAll();
    expect(after.map((p) => p.edges.length)).toEqual([3, 3, 1]);
    expect(after.flatMap((p) => p.edges.map((e) => e.node.id))).toEqual([
      oldest,
      ...created.slice(1).reverse(),
    ]);

    // Someone else's send into a group (created[3], a group of peers[3]) moves that one up as well.
    const group = created[3] ?? "";
    const peer = peers[3];
    if (!peer) throw new Error("peer missing");
    await peer.client.ok(SendMessageForSetupDocument, { conversationId: group, content: "news" });
    const again = await walkAll();
    expect(again.flatMap((p) => p.edges.map((e) => e.node.id))).toEqual([
      group,
      oldest,
      ...created
        .slice(1)
        .reverse()
        .filter((id) => id !== group),
    ]);
  });
});

describe("argument errors", () => {
  it("answers first+before, last+after, before+after and garbage cursors with BAD_USER_INPUT", async () => {
    const s = await seedChat(4);
    const { chat } = await s.a.client.ok(ChatForPaginationDocument, { with: s.b.username, first: 2 });
    const cursor = chat.pageInfo.endCursor ?? "";
    expect(cursor).not.toBe("");
    const b64 = (text: string) => Buffer.from(text).toString("base64");
    const garbage = ["garbage", "!!!", b64("hello"), b64("GPC:S:not-a-uuid"), b64("GPC:N:5"), `${cursor}x`];
    const badArgs: PageArgs[] = [
      { first: 2, before: cursor },
      { last: 2, after: cursor },
      { after: cursor, before: cursor },
      { first: -1 },
      { last: -1 },
      ...garbage.flatMap((g) => [
        { first: 2, after: g },
        { last: 2, before: g },
      ]),
    ];
    const parentId = s.idsBySeq.get(3) ?? "";
    // Every combination is tried on every connection; the comparison at the end lists all misses.
    const answers: { args: string; field: string; code: unknown; message: string }[] = [];
    for (const args of badArgs) {
      const tries = [
        ["chat", await s.a.client.fail(ChatForPaginationDocument, { with: s.b.username, ...args })],
        [
          "messages",
          await s.a.client.fail(ConversationMessagesForPaginationDocument, { id: s.conversationId, ...args }),
        ],
        ["replies", await s.a.client.fail(RepliesForPaginationDocument, { id: parentId, ...args })],
        ["conversations", await s.a.client.fail(ConversationsForPaginationDocument, args)],
      ] as const;
      for (const [field, r] of tries) {
        answers.push({ args: JSON.stringify(args), field, code: r.code, message: r.error.message });
      }
    }
    expect(answers.length).toBe(badArgs.length * 4);
    expect(answers).toEqual(
      answers.map((a) => ({
        ...a,
        code: "BAD_USER_INPUT",
        message: expect.not.stringMatching(/unexpected/i),
      })),
    );
  });
});

describe("MAX_PAGE_SIZE", () => {
  const small = useServer({ MAX_PAGE_SIZE: "5" });

  it("caps first/last at the configured size", async () => {
    const a = await signUp(small, "pag_cap");
    const b = await signUp(small, "pag_cap");
    let conversationId = "";
    for (let i = 1; i <= 8; i++) {
      const vars: SendMessageForSetupMutationVariables = conversationId
        ? { conversationId, content: `c${i}` }
        : { to: b.username, content: `c${i}` };
      conversationId = (await a.client.ok(SendMessageForSetupDocument, vars)).sendMessage.conversation.id;
    }
    const first = (await a.client.ok(ChatForPaginationDocument, { with: b.username, first: 50 })).chat;
    expect(seqs(first)).toEqual([8, 7, 6, 5, 4]);
    expect(first.nodes).toHaveLength(5);
    expect(first.totalCount).toBe(8);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const last = (await a.client.ok(ChatForPaginationDocument, { with: b.username, last: 50 })).chat;
    expect(seqs(last)).toEqual([5, 4, 3, 2, 1]);
    const messages = (
      await a.client.ok(ConversationMessagesForPaginationDocument, { id: conversationId, first: 50 })
    ).conversation?.messages;
    expect(messages?.edges).toHaveLength(5);
    // No explicit size: the default (20) is capped too.
    const dflt = (await a.client.ok(ChatForPaginationDocument, { with: b.username })).chat;
    expect(dflt.edges).toHaveLength(5);
  });
});
