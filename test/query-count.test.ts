// N+1 guard: the SQL statements the server runs to answer a list query must not grow with the list.
// The server runs in this process, so every statement it sends through `pg` is counted (see
// helpers/statement-counter.ts) while exactly one request is in flight.
import { describe, expect, it } from "vitest";
import {
  ChatForQueryCountDocument,
  ConversationsForQueryCountDocument,
  CreateGroupForSetupDocument,
  MarkReadForSetupDocument,
  ReplyToMessageForSetupDocument,
  SendMessageForSetupDocument,
  type SendMessageForSetupMutationVariables,
} from "./gql/graphql.ts";
import { signUp, type TestUser, uniqueName, useServer } from "./helpers/server.ts";
import { countStatements, type StatementLog } from "./helpers/statement-counter.ts";

/** Upper bounds on statements per request, from measurement (each test prints its statements). */
const MAX_STATEMENTS_CONVERSATIONS = 8; // measured: 8 (list, viewer membership, last messages, senders,
// count, members' conversations, memberships, users)
const MAX_STATEMENTS_CHAT = 5; // measured: 4 (user, direct conversation, messages, senders)

// No background work in this instance (job workers, webhook dispatcher, the log reader's poll
// tick): its statements would be counted with the request's.
const server = useServer({ JOB_CONCURRENCY: "0", EVENT_POLL_MS: "600000" });

function describeLog(label: string, log: StatementLog) {
  return `${label}: ${log.count} statements\n${log.statements.map((s, i) => `  ${i + 1}. ${s}`).join("\n")}`;
}

/** A user in `n` conversations: alternately a direct chat and a group of 3-5 members, each with
 * messages from several senders (so unread counts, last messages and members all differ). */
async function userWithConversations(n: number): Promise<TestUser> {
  const me = await signUp(server, "qc_me");
  // Everyone signs up at once (password hashing is the slow part); the writes below stay sequential.
  const groupSize = (i: number) => 2 + (i % 3);
  const people = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      Promise.all(Array.from({ length: i % 2 === 0 ? 1 : groupSize(i) }, () => signUp(server, "qc_peer"))),
    ),
  );
  for (const [i, others] of people.entries()) {
    const [first, ...rest] = others;
    if (!first) throw new Error("no peer");
    if (i % 2 === 0) {
      const { sendMessage } = await me.client.ok(SendMessageForSetupDocument, {
        to: first.username,
        content: `hello ${i}`,
      });
      await first.client.ok(SendMessageForSetupDocument, {
        conversationId: sendMessage.conversation.id,
        content: `hi back ${i}`,
      });
      await first.client.ok(ReplyToMessageForSetupDocument, {
        parentId: sendMessage.id,
        content: `thread ${i}`,
      });
    } else {
      const { createGroup } = await first.client.ok(CreateGroupForSetupDocument, {
        title: uniqueName(`group ${i}`),
        memberIds: [me.id, ...rest.map((o) => o.username)],
      });
      for (const [k, o] of others.entries()) {
        await o.client.ok(SendMessageForSetupDocument, {
          conversationId: createGroup.id,
          content: `group ${i} msg ${k}`,
        });
      }
      const { sendMessage } = await me.client.ok(SendMessageForSetupDocument, {
        conversationId: createGroup.id,
        content: "me too",
      });
      if (i % 3 === 0) await first.client.ok(MarkReadForSetupDocument, { messageId: sendMessage.id });
    }
  }
  return me;
}

async function measureConversations(user: TestUser) {
  // Warm-up: the first request of a user may differ for reasons unrelated to list size.
  await user.client.ok(ConversationsForQueryCountDocument);
  return countStatements(() => user.client.ok(ConversationsForQueryCountDocument));
}

describe("conversations(first: 20) with nested fields", () => {
  it("runs the same small number of statements for 2 conversations as for 20", {
    timeout: 120_000,
  }, async () => {
    const small = await userWithConversations(2);
    const big = await userWithConversations(20);

    const s = await measureConversations(small);
    const b = await measureConversations(big);
    console.log(describeLog("conversations, 2 conversations", s.log));
    console.log(describeLog("conversations, 20 conversations", b.log));

    // The answers are complete (so the counts are about real work).
    expect(s.result.conversations.totalCount).toBe(2);
    expect(s.result.conversations.nodes).toHaveLength(2);
    expect(b.result.conversations.totalCount).toBe(20);
    expect(b.result.conversations.nodes).toHaveLength(20);
    for (const node of b.result.conversations.nodes) {
      expect(node.lastMessage?.sender?.username).toBeTruthy();
      expect(node.members.length).toBeGreaterThanOrEqual(2);
      for (const m of node.members) expect(m.user.id).toBe(m.id);
    }
    expect(b.result.conversations.nodes.some((n) => n.unreadCount > 0)).toBe(true);
    expect(b.result.conversations.nodes.some((n) => n.members.length >= 4)).toBe(true);

    expect(s.log.count).toBeGreaterThan(0); // the counter sees the server's statements at all
    expect(b.log.count, `${describeLog("2", s.log)}\n${describeLog("20", b.log)}`).toBe(s.log.count);
    expect(b.log.count).toBeLessThanOrEqual(MAX_STATEMENTS_CONVERSATIONS);
  });
});

describe("chat(with:, first: 50)", () => {
  async function pairWithMessages(n: number) {
    const me = await signUp(server, "qc_chat");
    const other = await signUp(server, "qc_chat");
    let conversationId = "";
    for (let i = 0; i < n; i++) {
      const sender = i % 3 === 0 ? other : me;
      const vars: SendMessageForSetupMutationVariables = conversationId
        ? { conversationId, content: `m${i}` }
        : { to: sender === me ? other.username : me.username, content: `m${i}` };
      conversationId = (await sender.client.ok(SendMessageForSetupDocument, vars)).sendMessage.conversation
        .id;
    }
    return { me, other };
  }

  it("runs the same small number of statements for 5 messages as for 60", { timeout: 120_000 }, async () => {
    const small = await pairWithMessages(5);
    const big = await pairWithMessages(60);
    const measure = async ({ me, other }: { me: TestUser; other: TestUser }) => {
      await me.client.ok(ChatForQueryCountDocument, { with: other.username });
      return countStatements(() => me.client.ok(ChatForQueryCountDocument, { with: other.username }));
    };
    const s = await measure(small);
    const b = await measure(big);
    console.log(describeLog("chat, 5 messages", s.log));
    console.log(describeLog("chat, 60 messages", b.log));

    expect(s.result.chat.totalCount).toBe(5);
    expect(s.result.chat.nodes.map((n) => n.content)).toEqual(["m4", "m3", "m2", "m1", "m0"]);
    expect(b.result.chat.totalCount).toBe(60);
    expect(b.result.chat.nodes).toHaveLength(50);
    expect(b.result.chat.nodes[0]?.content).toBe("m59");
    const senders = new Set(b.result.chat.nodes.map((n) => n.sender?.username));
    expect(senders).toEqual(new Set([big.me.username, big.other.username]));

    expect(s.log.count).toBeGreaterThan(0);
    expect(b.log.count, `${describeLog("5", s.log)}\n${describeLog("60", b.log)}`).toBe(s.log.count);
    expect(b.log.count).toBeLessThanOrEqual(MAX_STATEMENTS_CHAT);
  });
});
