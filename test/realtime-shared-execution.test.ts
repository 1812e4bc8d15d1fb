// Resolve once, deliver many (src/schema/shared-execution.ts, src/features/messaging/event-rows.ts):
// the subscribers of one instance that get the same event share its execution, so the database work
// per event does not grow with them; fields that are the viewer's own are still resolved per viewer.
import { describe, expect, it } from "vitest";
import {
  CreateGroupForSharedDocument,
  SendMessageForSharedDocument,
  SharedMessageEventsDocument,
  ViewerMessageEventsDocument,
} from "./gql/graphql.ts";
import { caughtUp, live, REDIS_URL, useRealtime } from "./helpers/realtime.ts";
import { signUp, type TestUser, uniqueName, useServer } from "./helpers/server.ts";

const server = useServer({ REDIS_URL });
const rt = useRealtime([server]);

async function groupOf(size: number): Promise<{ id: string; members: TestUser[] }> {
  const members = await Promise.all(Array.from({ length: size }, () => signUp(server, "sx")));
  const [owner, ...rest] = members as [TestUser, ...TestUser[]];
  const { createGroup } = await owner.client.ok(CreateGroupForSharedDocument, {
    title: uniqueName("shared"),
    memberIds: rest.map((m) => m.username),
  });
  await caughtUp(server, { conversationIds: [createGroup.id] });
  return { id: createGroup.id, members };
}

describe("one event, many subscribers on one instance", () => {
  /** Executions of subscription events on the instance, and deliveries that reused one. */
  async function executions() {
    const metrics = server.app.services.metrics;
    if (!metrics) throw new Error("the test server has no metrics");
    const value = async (name: string) =>
      (await metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
    return {
      executed: await value("subscription_executions_total"),
      shared: await value("subscription_results_shared_total"),
    };
  }

  it("24 subscribers of a selection everyone may share: one execution per event, 23 reuses", async () => {
    const group = await groupOf(6);
    const subs = await live(server, 24, () =>
      group.members.flatMap((m) =>
        Array.from({ length: 4 }, () => rt.wsAlone(server, m.token, SharedMessageEventsDocument).sub),
      ),
    );
    const sender = group.members[0] as TestUser;
    const before = await executions();
    for (const content of ["one", "two"]) {
      await sender.client.ok(SendMessageForSharedDocument, { conversationId: group.id, content });
    }
    await Promise.all(subs.map((s) => s.waitFor(2)));
    const after = await executions();
    expect({ executed: after.executed - before.executed, shared: after.shared - before.shared }).toEqual({
      executed: 2,
      shared: 2 * 23,
    });
    for (const s of subs) {
      expect(s.values.map((v) => v.messageEvents)).toMatchObject([
        { kind: "CREATED", seq: 1, message: { content: "one", conversation: { id: group.id } } },
        { kind: "CREATED", seq: 2, message: { content: "two", conversation: { id: group.id } } },
      ]);
    }
  });

  it("viewer-dependent fields stay the viewer's: the sender alone sees clientMessageId, each their own unreadCount", async () => {
    const group = await groupOf(3);
    const [sender, other, third] = group.members as [TestUser, TestUser, TestUser];
    // Two devices each, the same document on every socket: shared per viewer, never across viewers.
    const subs = await live(server, 6, () =>
      [sender, sender, other, other, third, third].map(
        (m) => rt.wsAlone(server, m.token, ViewerMessageEventsDocument).sub,
      ),
    );
    const before = await executions();
    const key = uniqueName("cmid");
    await sender.client.ok(SendMessageForSharedDocument, {
      conversationId: group.id,
      content: "x",
      clientMessageId: key,
    });
    const events = await Promise.all(subs.map(async (s) => (await s.waitFor(1))[0]?.messageEvents));
    const after = await executions();
    // One execution per viewer (their two devices share it), none across viewers.
    expect(after.executed - before.executed).toBe(3);
    const [s1, s2, o1, o2, t1, t2] = events;
    for (const mine of [s1, s2]) {
      expect(mine?.message.clientMessageId).toBe(key);
      expect(mine?.message.conversation.unreadCount).toBe(0);
    }
    for (const theirs of [o1, o2, t1, t2]) {
      expect(theirs?.message.clientMessageId).toBeNull();
      expect(theirs?.message.conversation.unreadCount).toBe(1);
    }
  });
});
