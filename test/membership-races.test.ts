// Membership changes racing each other, each scenario over many rounds (a fresh group per round).
// Whatever order the server serializes them in, the outcome must be one that some serial order
// allows: an admin removed by the owner cannot put themselves back with addMembers (every
// addMembers either ran while they were still a member, a no-op, or after the removal, refused),
// and a group with members always has exactly one active OWNER. Checked through SQL on the
// "Membership" table (role, "leftAt") and the "Event" log.
import { beforeAll, describe, expect, it } from "vitest";
import {
  AddMembersDocument,
  LeaveConversationDocument,
  RemoveMemberDocument,
  SetMemberRoleDocument,
} from "./gql/graphql.ts";
import { createGroup } from "./helpers/actions.ts";
import type { Result } from "./helpers/client.ts";
import { signUp, type TestUser, useServer } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";

const ROUNDS = 15;
const PARALLEL_ADDS = 10;

const server = useServer();
const sql = useSql();
let owner: TestUser;
let x: TestUser;
let y: TestUser;
let z: TestUser;

beforeAll(async () => {
  owner = await signUp(server, "race_o");
  x = await signUp(server, "race_x");
  y = await signUp(server, "race_y");
  z = await signUp(server, "race_z");
});

type Row = { userId: string; role: string; active: boolean };

async function memberships(conversationId: string): Promise<Row[]> {
  return sql.query<Row>(
    `SELECT "userId"::text AS "userId", role::text AS role, ("leftAt" IS NULL) AS active
       FROM "Membership" WHERE "conversationId" = $1::uuid ORDER BY "joinedAt", id`,
    [conversationId],
  );
}

const activeOwners = (rows: Row[]) => rows.filter((r) => r.active && r.role === "OWNER").map((r) => r.userId);
const isActive = (rows: Row[], user: TestUser) => rows.some((r) => r.userId === user.id && r.active);

/** Error code of an answer, "ok" without errors. */
const outcome = (r: Result<unknown>) => r.errors?.[0]?.extensions?.code ?? (r.status >= 500 ? "500" : "ok");

/** One fresh group per round, made in parallel. */
const prepare = (make: () => Promise<string>) => Promise.all(Array.from({ length: ROUNDS }, make));

/** `run` after `ms` milliseconds (0: at once), to sweep the start of one racer across rounds. */
const after = <T>(ms: number, run: () => Promise<T>) =>
  ms === 0 ? run() : new Promise<T>((resolve, reject) => setTimeout(() => run().then(resolve, reject), ms));

const name = (user: TestUser) =>
  user === owner ? "owner" : user === x ? "x" : user === y ? "y" : user === z ? "z" : user.id;

describe("a removed ADMIN re-adding themselves while the owner removes them", () => {
  it(`never stays a member (${ROUNDS} rounds of ${PARALLEL_ADDS} parallel addMembers + removeMember)`, async () => {
    const bad: string[] = [];
    // The groups are made up front (in parallel), so the time goes to the races.
    const groups = await prepare(async () => {
      const g = await createGroup(owner, [x, z]);
      await owner.client.ok(SetMemberRoleDocument, { conversationId: g, userId: x.id, role: "ADMIN" });
      return g;
    });
    for (const [i, g] of groups.entries()) {
      const round = i + 1;
      const remove = owner.client.raw(RemoveMemberDocument, { conversationId: g, userId: x.id });
      const adds = Array.from({ length: PARALLEL_ADDS }, () =>
        x.client.raw(AddMembersDocument, { conversationId: g, memberIds: [x.id] }),
      );
      const [removed, ...added] = await Promise.all([remove, ...adds]);
      const problems: string[] = [];
      // The owner's removal of an active admin always succeeds (a re-add before it is a no-op).
      if (outcome(removed as Result<unknown>) !== "ok") problems.push(`removeMember: ${outcome(removed)}`);
      const codes = added.map((r) => outcome(r as Result<unknown>));
      const unexpected = codes.filter((c) => !["ok", "FORBIDDEN", "NOT_FOUND"].includes(c));
      if (unexpected.length) problems.push(`addMembers answered ${unexpected.join(",")}`);
      const rows = await memberships(g);
      if (isActive(rows, x)) problems.push(`x is an active ${rows.find((r) => r.userId === x.id)?.role}`);
      // An addMembers that ran while x was a member added nothing; one after the removal must not run.
      const readds = await sql.count(
        `SELECT count(*)::int AS n FROM "Event"
          WHERE type = 'member.added' AND "conversationId" = $1::uuid AND "userId" = $2::uuid
            AND payload->>'by' = $3`,
        [g, x.id, x.id],
      );
      if (readds > 0) problems.push(`${readds} member.added event(s) of x by x`);
      if (problems.length)
        bad.push(`round ${round} (addMembers: ${codes.join(",")}): ${problems.join("; ")}`);
    }
    expect(bad, `${bad.length}/${ROUNDS} rounds broke the invariant`).toEqual([]);
  });
});

describe("role changes in parallel keep exactly one active OWNER", () => {
  /** Runs `race` on a fresh group per round and checks the owner invariant afterwards. */
  async function rounds(
    setup: (g: string) => Promise<void>,
    race: (g: string, round: number) => Promise<Result<unknown>>[],
    extra: (rows: Row[], answers: string[]) => string[] = () => [],
  ) {
    const bad: string[] = [];
    const groups = await prepare(async () => {
      const g = await createGroup(owner, [x, y, z]);
      await setup(g);
      return g;
    });
    for (const [i, g] of groups.entries()) {
      const round = i + 1;
      const answers = (await Promise.all(race(g, round))).map(outcome);
      const rows = await memberships(g);
      const owners = activeOwners(rows);
      const problems: string[] = [];
      if (answers.some((a) => a === "500" || a === "INTERNAL_SERVER_ERROR"))
        problems.push("an internal error");
      if (owners.length !== 1) {
        const names = owners.map((id) => name([owner, x, y, z].find((u) => u.id === id) as TestUser));
        problems.push(`${owners.length} active owners [${names.join(",")}]`);
      }
      problems.push(...extra(rows, answers));
      if (problems.length) bad.push(`round ${round} (answers ${answers.join(",")}): ${problems.join("; ")}`);
    }
    return bad;
  }

  it("the owner hands the group to X and to Y at once: one hand-over wins, the other is refused", async () => {
    const bad = await rounds(
      async () => {},
      (g) => [
        owner.client.raw(SetMemberRoleDocument, { conversationId: g, userId: x.id, role: "OWNER" }),
        owner.client.raw(SetMemberRoleDocument, { conversationId: g, userId: y.id, role: "OWNER" }),
      ],
      (_rows, answers) =>
        answers.filter((a) => a === "ok").length === 1 ? [] : ["not exactly one hand-over succeeded"],
    );
    expect(bad, `${bad.length}/${ROUNDS} rounds broke the invariant`).toEqual([]);
  });

  it("the owner leaves while handing the group to X (Y is the admin heir)", async () => {
    const bad = await rounds(
      async (g) => {
        await owner.client.ok(SetMemberRoleDocument, { conversationId: g, userId: y.id, role: "ADMIN" });
      },
      (g) => [
        owner.client.raw(LeaveConversationDocument, { conversationId: g }),
        owner.client.raw(SetMemberRoleDocument, { conversationId: g, userId: x.id, role: "OWNER" }),
      ],
      (rows, answers) => [
        ...(answers[0] === "ok" ? [] : [`leaveConversation: ${answers[0]}`]),
        ...(isActive(rows, owner) ? ["the owner is still a member"] : []),
      ],
    );
    expect(bad, `${bad.length}/${ROUNDS} rounds broke the invariant`).toEqual([]);
  });

  it("the owner hands the group to X while X leaves", async () => {
    const bad = await rounds(
      async () => {},
      // X's leave starts 0..7 ms after the hand-over, so it lands on both sides of its commit.
      (g, round) => [
        after(round % 8, () => x.client.raw(LeaveConversationDocument, { conversationId: g })),
        owner.client.raw(SetMemberRoleDocument, { conversationId: g, userId: x.id, role: "OWNER" }),
      ],
      (rows, answers) => [
        ...(answers[0] === "ok" ? [] : [`leaveConversation: ${answers[0]}`]),
        ...(isActive(rows, x) ? ["x is still a member"] : []),
      ],
    );
    expect(bad, `${bad.length}/${ROUNDS} rounds broke the invariant`).toEqual([]);
  });

  it("the owner and the admin heir leave at once (Z stays)", async () => {
    const bad = await rounds(
      async (g) => {
        await owner.client.ok(SetMemberRoleDocument, { conversationId: g, userId: y.id, role: "ADMIN" });
      },
      (g) => [
        owner.client.raw(LeaveConversationDocument, { conversationId: g }),
        y.client.raw(LeaveConversationDocument, { conversationId: g }),
      ],
      (rows, answers) => [
        ...(answers.every((a) => a === "ok") ? [] : [`leaveConversation: ${answers.join(",")}`]),
        ...(isActive(rows, owner) || isActive(rows, y) ? ["a leaver is still a member"] : []),
      ],
    );
    expect(bad, `${bad.length}/${ROUNDS} rounds broke the invariant`).toEqual([]);
  });
});
