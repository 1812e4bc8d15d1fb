// Group management end to end: createGroup, addMembers, removeMember, leaveConversation, setMemberRole.
import { describe, expect, it } from "vitest";
import {
  AddMembersForMembershipDocument,
  ConversationForMembershipDocument,
  ConversationsForMembershipDocument,
  CreateGroupForMembershipDocument,
  LeaveConversationDocument,
  RemoveMemberForMembershipDocument,
  SendMessageForSetupDocument,
  SetMemberRoleForMembershipDocument,
} from "./gql/graphql.ts";
import { signUp, type TestUser, uniqueName, useServer } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";

const server = useServer();
const sql = useSql();

type Role = "OWNER" | "ADMIN" | "MEMBER";

/** The roles of a group as its OWNER (or any member) sees them, by user id. */
async function roles(viewer: TestUser, conversationId: string): Promise<Record<string, Role>> {
  const { conversation } = await viewer.client.ok(ConversationForMembershipDocument, { id: conversationId });
  if (!conversation) throw new Error("conversation missing");
  return Object.fromEntries(conversation.members.map((m) => [m.id, m.role]));
}

/** Active memberships straight from the database, by user id. */
async function dbRoles(conversationId: string): Promise<Record<string, string>> {
  const rows = await sql.query<{ userId: string; role: string }>(
    `SELECT "userId"::text AS "userId", role::text AS role FROM "Membership"
     WHERE "conversationId" = $1::uuid AND "leftAt" IS NULL`,
    [conversationId],
  );
  return Object.fromEntries(rows.map((r) => [r.userId, r.role]));
}

async function listIds(user: TestUser) {
  const { conversations } = await user.client.ok(ConversationsForMembershipDocument);
  return conversations.nodes.map((n) => n.id);
}

/** A group of a fresh owner with `admins` admins and `members` members (joined in that order). */
async function makeGroup(admins = 1, members = 2) {
  const owner = await signUp(server, "grp_owner");
  const adminUsers: TestUser[] = [];
  const memberUsers: TestUser[] = [];
  for (let i = 0; i < admins; i++) adminUsers.push(await signUp(server, "grp_admin"));
  for (let i = 0; i < members; i++) memberUsers.push(await signUp(server, "grp_member"));
  const { createGroup } = await owner.client.ok(CreateGroupForMembershipDocument, {
    title: uniqueName("group"),
    memberIds: [...adminUsers, ...memberUsers].map((u) => u.id),
  });
  for (const admin of adminUsers) {
    await owner.client.ok(SetMemberRoleForMembershipDocument, {
      conversationId: createGroup.id,
      userId: admin.id,
      role: "ADMIN",
    });
  }
  return { id: createGroup.id, owner, admins: adminUsers, members: memberUsers };
}

describe("createGroup", () => {
  it("makes the creator OWNER and adds members named by id or username, ignoring duplicates and self", async () => {
    const me = await signUp(server, "grp_me");
    const b = await signUp(server, "grp_b");
    const c = await signUp(server, "grp_c");
    const title = uniqueName("Team");
    const { createGroup } = await me.client.ok(CreateGroupForMembershipDocument, {
      title: `  ${title}  `,
      memberIds: [b.id, c.username, b.username, me.id, me.username, c.id, b.id],
    });
    expect(createGroup.kind).toBe("GROUP");
    expect(createGroup.title).toBe(title);
    expect(Object.fromEntries(createGroup.members.map((m) => [m.id, [m.username, m.role]]))).toEqual({
      [me.id]: [me.username, "OWNER"],
      [b.id]: [b.username, "MEMBER"],
      [c.id]: [c.username, "MEMBER"],
    });
    expect(createGroup.members).toHaveLength(3);
    expect(await dbRoles(createGroup.id)).toEqual({ [me.id]: "OWNER", [b.id]: "MEMBER", [c.id]: "MEMBER" });
    expect(
      await sql.count(`SELECT count(*)::int AS n FROM "Membership" WHERE "conversationId" = $1::uuid`, [
        createGroup.id,
      ]),
    ).toBe(3);
    // Every member sees it in their list.
    for (const u of [me, b, c]) expect(await listIds(u)).toContain(createGroup.id);
  });

  it("refuses an unknown member with BAD_USER_INPUT (memberIds) and creates nothing", async () => {
    const me = await signUp(server, "grp_me");
    const b = await signUp(server, "grp_b");
    const title = uniqueName("Ghost");
    for (const unknown of [uniqueName("nobody"), "0190c0de-0000-7000-8000-000000000000"]) {
      const r = await me.client.fail(CreateGroupForMembershipDocument, {
        title,
        memberIds: [b.username, unknown],
      });
      expect(r.code).toBe("BAD_USER_INPUT");
      expect(r.field).toBe("memberIds");
    }
    expect(await sql.count(`SELECT count(*)::int AS n FROM "Conversation" WHERE title = $1`, [title])).toBe(
      0,
    );
    expect(
      await sql.count(`SELECT count(*)::int AS n FROM "Membership" WHERE "userId" = ANY($1::uuid[])`, [
        [me.id, b.id],
      ]),
    ).toBe(0);
    expect(await listIds(me)).toEqual([]);
    expect(await listIds(b)).toEqual([]);
  });

  it("refuses an empty title with BAD_USER_INPUT (title)", async () => {
    const me = await signUp(server, "grp_me");
    const b = await signUp(server, "grp_b");
    for (const title of ["", "   "]) {
      const r = await me.client.fail(CreateGroupForMembershipDocument, { title, memberIds: [b.id] });
      expect(r.code).toBe("BAD_USER_INPUT");
      expect(r.field).toBe("title");
    }
    expect(await listIds(me)).toEqual([]);
  });
});

describe("addMembers", () => {
  it("lets the OWNER and an ADMIN add members (by id or username), who join as MEMBER", async () => {
    const g = await makeGroup(1, 1);
    const x = await signUp(server, "grp_x");
    const y = await signUp(server, "grp_y");
    const z = await signUp(server, "grp_z");
    const byOwner = await g.owner.client.ok(AddMembersForMembershipDocument, {
      conversationId: g.id,
      memberIds: [x.username],
    });
    expect(byOwner.addMembers.members.find((m) => m.id === x.id)?.role).toBe("MEMBER");
    const admin = g.admins[0] as TestUser;
    const byAdmin = await admin.client.ok(AddMembersForMembershipDocument, {
      conversationId: g.id,
      memberIds: [y.id, z.username, x.id],
    });
    expect(byAdmin.addMembers.members.map((m) => m.id)).toEqual(
      expect.arrayContaining([g.owner.id, admin.id, x.id, y.id, z.id]),
    );
    expect(byAdmin.addMembers.members).toHaveLength(6);
    expect(await dbRoles(g.id)).toMatchObject({ [x.id]: "MEMBER", [y.id]: "MEMBER", [z.id]: "MEMBER" });
    for (const u of [x, y, z]) {
      expect(await listIds(u)).toContain(g.id);
      expect((await roles(u, g.id))[u.id]).toBe("MEMBER");
    }
  });

  it("refuses a MEMBER (FORBIDDEN), a DIRECT conversation and unknown users (BAD_USER_INPUT)", async () => {
    const g = await makeGroup(0, 1);
    const member = g.members[0] as TestUser;
    const x = await signUp(server, "grp_x");
    const r = await member.client.fail(AddMembersForMembershipDocument, {
      conversationId: g.id,
      memberIds: [x.id],
    });
    expect(r.code).toBe("FORBIDDEN");
    expect(await listIds(x)).toEqual([]);

    const unknown = await g.owner.client.fail(AddMembersForMembershipDocument, {
      conversationId: g.id,
      memberIds: [x.id, uniqueName("nobody")],
    });
    expect(unknown.code).toBe("BAD_USER_INPUT");
    expect(unknown.field).toBe("memberIds");
    expect(await listIds(x)).toEqual([]);

    const { sendMessage } = await g.owner.client.ok(SendMessageForSetupDocument, {
      to: member.username,
      content: "hi",
    });
    expect(sendMessage.conversation.kind).toBe("DIRECT");
    const direct = await g.owner.client.fail(AddMembersForMembershipDocument, {
      conversationId: sendMessage.conversation.id,
      memberIds: [x.id],
    });
    expect(direct.code).toBe("BAD_USER_INPUT");
    expect(await listIds(x)).toEqual([]);
    expect(
      await sql.count(`SELECT count(*)::int AS n FROM "Membership" WHERE "conversationId" = $1::uuid`, [
        sendMessage.conversation.id,
      ]),
    ).toBe(2);
  });

  it("re-adds a member who left", async () => {
    const g = await makeGroup(0, 2);
    const leaver = g.members[0] as TestUser;
    expect(
      (await leaver.client.ok(LeaveConversationDocument, { conversationId: g.id })).leaveConversation,
    ).toBe(true);
    expect(await listIds(leaver)).not.toContain(g.id);
    expect((await leaver.client.fail(ConversationForMembershipDocument, { id: g.id })).code).toBe(
      "NOT_FOUND",
    );

    const { addMembers } = await g.owner.client.ok(AddMembersForMembershipDocument, {
      conversationId: g.id,
      memberIds: [leaver.id],
    });
    expect(addMembers.members.find((m) => m.id === leaver.id)?.role).toBe("MEMBER");
    expect(await listIds(leaver)).toContain(g.id);
    expect((await roles(leaver, g.id))[leaver.id]).toBe("MEMBER");
    const { sendMessage } = await leaver.client.ok(SendMessageForSetupDocument, {
      conversationId: g.id,
      content: "I'm back",
    });
    expect(sendMessage.conversation.id).toBe(g.id);
    // Still one membership row per user (the old one revived).
    expect(
      await sql.count(
        `SELECT count(*)::int AS n FROM "Membership" WHERE "conversationId" = $1::uuid AND "userId" = $2::uuid`,
        [g.id, leaver.id],
      ),
    ).toBe(1);
  });
});

describe("removeMember", () => {
  it("OWNER removes an ADMIN; ADMIN removes a MEMBER", async () => {
    const g = await makeGroup(2, 1);
    const [admin1, admin2] = g.admins as [TestUser, TestUser];
    const member = g.members[0] as TestUser;
    const r1 = await g.owner.client.ok(RemoveMemberForMembershipDocument, {
      conversationId: g.id,
      userId: admin1.username,
    });
    expect(r1.removeMember.members.map((m) => m.id)).not.toContain(admin1.id);
    const r2 = await admin2.client.ok(RemoveMemberForMembershipDocument, {
      conversationId: g.id,
      userId: member.id,
    });
    expect(r2.removeMember.members.map((m) => m.id)).not.toContain(member.id);
    expect(await dbRoles(g.id)).toEqual({ [g.owner.id]: "OWNER", [admin2.id]: "ADMIN" });
  });

  it("refuses an ADMIN removing an ADMIN or the OWNER, and a MEMBER removing anyone (FORBIDDEN)", async () => {
    const g = await makeGroup(2, 2);
    const [admin1, admin2] = g.admins as [TestUser, TestUser];
    const [m1, m2] = g.members as [TestUser, TestUser];
    const before = await dbRoles(g.id);
    const attempts: [TestUser, TestUser][] = [
      [admin1, admin2],
      [admin1, g.owner],
      [m1, m2],
      [m1, admin1],
      [m1, g.owner],
    ];
    for (const [actor, target] of attempts) {
      const r = await actor.client.fail(RemoveMemberForMembershipDocument, {
        conversationId: g.id,
        userId: target.id,
      });
      expect(r.code, `${actor.username} removing ${target.username}`).toBe("FORBIDDEN");
    }
    expect(await dbRoles(g.id)).toEqual(before);
  });

  it("refuses removing yourself (BAD_USER_INPUT) and a non-member (NOT_FOUND)", async () => {
    const g = await makeGroup(1, 1);
    const admin = g.admins[0] as TestUser;
    for (const actor of [g.owner, admin]) {
      const self = await actor.client.fail(RemoveMemberForMembershipDocument, {
        conversationId: g.id,
        userId: actor.id,
      });
      expect(self.code).toBe("BAD_USER_INPUT");
      const selfByName = await actor.client.fail(RemoveMemberForMembershipDocument, {
        conversationId: g.id,
        userId: actor.username,
      });
      expect(selfByName.code).toBe("BAD_USER_INPUT");
    }
    const outsider = await signUp(server, "grp_out");
    const left = g.members[0] as TestUser;
    await left.client.ok(LeaveConversationDocument, { conversationId: g.id });
    for (const target of [outsider.id, outsider.username, left.id, uniqueName("nobody")]) {
      const r = await g.owner.client.fail(RemoveMemberForMembershipDocument, {
        conversationId: g.id,
        userId: target,
      });
      expect(r.code, target).toBe("NOT_FOUND");
    }
    expect(Object.keys(await dbRoles(g.id)).sort()).toEqual([g.owner.id, admin.id].sort());
  });

  it("a removed member gets NOT_FOUND for the conversation and can no longer send into it", async () => {
    const g = await makeGroup(0, 2);
    const gone = g.members[0] as TestUser;
    await gone.client.ok(SendMessageForSetupDocument, { conversationId: g.id, content: "before removal" });
    await g.owner.client.ok(RemoveMemberForMembershipDocument, { conversationId: g.id, userId: gone.id });
    expect((await gone.client.fail(ConversationForMembershipDocument, { id: g.id })).code).toBe("NOT_FOUND");
    expect(await listIds(gone)).not.toContain(g.id);
    const count = () =>
      sql.count(`SELECT count(*)::int AS n FROM "Message" WHERE "conversationId" = $1::uuid`, [g.id]);
    const before = await count();
    const send = await gone.client.fail(SendMessageForSetupDocument, {
      conversationId: g.id,
      content: "after removal",
    });
    expect(send.code).toBe("NOT_FOUND");
    expect(await count()).toBe(before);
    // Nor can they manage it.
    const add = await gone.client.fail(AddMembersForMembershipDocument, {
      conversationId: g.id,
      memberIds: [gone.id],
    });
    expect(add.code).toBe("NOT_FOUND");
  });
});

describe("leaveConversation", () => {
  it("a member leaves: the conversation disappears from their list, the others stay", async () => {
    const g = await makeGroup(0, 2);
    const [m1, m2] = g.members as [TestUser, TestUser];
    expect(await listIds(m1)).toContain(g.id);
    expect((await m1.client.ok(LeaveConversationDocument, { conversationId: g.id })).leaveConversation).toBe(
      true,
    );
    expect(await listIds(m1)).not.toContain(g.id);
    expect((await m1.client.ok(ConversationsForMembershipDocument)).conversations.totalCount).toBe(0);
    expect(await dbRoles(g.id)).toEqual({ [g.owner.id]: "OWNER", [m2.id]: "MEMBER" });
    expect(await listIds(m2)).toContain(g.id);
    // Leaving again: no longer a member.
    expect((await m1.client.fail(LeaveConversationDocument, { conversationId: g.id })).code).toBe(
      "NOT_FOUND",
    );
  });

  it("a leaving OWNER hands the group to the longest-standing ADMIN (not the oldest member)", async () => {
    const owner = await signUp(server, "grp_owner");
    const oldMember = await signUp(server, "grp_member");
    const { createGroup } = await owner.client.ok(CreateGroupForMembershipDocument, {
      title: uniqueName("g"),
      memberIds: [oldMember.id],
    });
    const id = createGroup.id;
    const earlyAdmin = await signUp(server, "grp_admin");
    const lateAdmin = await signUp(server, "grp_admin");
    await owner.client.ok(AddMembersForMembershipDocument, {
      conversationId: id,
      memberIds: [earlyAdmin.id],
    });
    await owner.client.ok(AddMembersForMembershipDocument, { conversationId: id, memberIds: [lateAdmin.id] });
    // Promoted in the opposite order of joining: joining order decides.
    await owner.client.ok(SetMemberRoleForMembershipDocument, {
      conversationId: id,
      userId: lateAdmin.id,
      role: "ADMIN",
    });
    await owner.client.ok(SetMemberRoleForMembershipDocument, {
      conversationId: id,
      userId: earlyAdmin.id,
      role: "ADMIN",
    });

    await owner.client.ok(LeaveConversationDocument, { conversationId: id });
    expect(await dbRoles(id)).toEqual({
      [oldMember.id]: "MEMBER",
      [earlyAdmin.id]: "OWNER",
      [lateAdmin.id]: "ADMIN",
    });
    expect(await roles(earlyAdmin, id)).toEqual({
      [oldMember.id]: "MEMBER",
      [earlyAdmin.id]: "OWNER",
      [lateAdmin.id]: "ADMIN",
    });
    expect(await listIds(owner)).not.toContain(id);
    // The new owner can act as one.
    await earlyAdmin.client.ok(SetMemberRoleForMembershipDocument, {
      conversationId: id,
      userId: oldMember.id,
      role: "ADMIN",
    });
  });

  it("with no admin, a leaving OWNER hands the group to the longest-standing MEMBER", async () => {
    const owner = await signUp(server, "grp_owner");
    const first = await signUp(server, "grp_member");
    const { createGroup } = await owner.client.ok(CreateGroupForMembershipDocument, {
      title: uniqueName("g"),
      memberIds: [first.id],
    });
    const second = await signUp(server, "grp_member");
    const third = await signUp(server, "grp_member");
    await owner.client.ok(AddMembersForMembershipDocument, {
      conversationId: createGroup.id,
      memberIds: [second.id],
    });
    await owner.client.ok(AddMembersForMembershipDocument, {
      conversationId: createGroup.id,
      memberIds: [third.id],
    });
    await owner.client.ok(LeaveConversationDocument, { conversationId: createGroup.id });
    expect(await dbRoles(createGroup.id)).toEqual({
      [first.id]: "OWNER",
      [second.id]: "MEMBER",
      [third.id]: "MEMBER",
    });
  });
});

describe("setMemberRole", () => {
  it("the OWNER promotes to ADMIN and demotes back to MEMBER", async () => {
    const g = await makeGroup(0, 2);
    const [m1] = g.members as [TestUser, TestUser];
    const up = await g.owner.client.ok(SetMemberRoleForMembershipDocument, {
      conversationId: g.id,
      userId: m1.username,
      role: "ADMIN",
    });
    expect(up.setMemberRole.members.find((m) => m.id === m1.id)?.role).toBe("ADMIN");
    expect((await dbRoles(g.id))[m1.id]).toBe("ADMIN");
    // As an ADMIN they can now add members.
    const x = await signUp(server, "grp_x");
    await m1.client.ok(AddMembersForMembershipDocument, { conversationId: g.id, memberIds: [x.id] });
    const down = await g.owner.client.ok(SetMemberRoleForMembershipDocument, {
      conversationId: g.id,
      userId: m1.id,
      role: "MEMBER",
    });
    expect(down.setMemberRole.members.find((m) => m.id === m1.id)?.role).toBe("MEMBER");
    expect((await dbRoles(g.id))[m1.id]).toBe("MEMBER");
    const y = await signUp(server, "grp_y");
    expect(
      (await m1.client.fail(AddMembersForMembershipDocument, { conversationId: g.id, memberIds: [y.id] }))
        .code,
    ).toBe("FORBIDDEN");
  });

  it("making someone OWNER hands ownership over; the old owner becomes ADMIN", async () => {
    const g = await makeGroup(1, 1);
    const member = g.members[0] as TestUser;
    const admin = g.admins[0] as TestUser;
    const { setMemberRole } = await g.owner.client.ok(SetMemberRoleForMembershipDocument, {
      conversationId: g.id,
      userId: member.id,
      role: "OWNER",
    });
    const expected = { [g.owner.id]: "ADMIN", [admin.id]: "ADMIN", [member.id]: "OWNER" };
    expect(Object.fromEntries(setMemberRole.members.map((m) => [m.id, m.role]))).toEqual(expected);
    expect(await dbRoles(g.id)).toEqual(expected);
    // Exactly one owner, and the old one no longer has its powers.
    const r = await g.owner.client.fail(SetMemberRoleForMembershipDocument, {
      conversationId: g.id,
      userId: admin.id,
      role: "MEMBER",
    });
    expect(r.code).toBe("FORBIDDEN");
    await member.client.ok(SetMemberRoleForMembershipDocument, {
      conversationId: g.id,
      userId: g.owner.id,
      role: "MEMBER",
    });
    expect((await dbRoles(g.id))[g.owner.id]).toBe("MEMBER");
  });

  it("refuses non-OWNERs (FORBIDDEN) and the OWNER naming itself (BAD_USER_INPUT)", async () => {
    const g = await makeGroup(1, 2);
    const admin = g.admins[0] as TestUser;
    const [m1, m2] = g.members as [TestUser, TestUser];
    const before = await dbRoles(g.id);
    for (const [actor, target, role] of [
      [admin, m1, "ADMIN"],
      [admin, admin, "OWNER"],
      [admin, g.owner, "MEMBER"],
      [m1, m2, "ADMIN"],
      [m1, m1, "OWNER"],
    ] as const) {
      const r = await actor.client.fail(SetMemberRoleForMembershipDocument, {
        conversationId: g.id,
        userId: target.id,
        role,
      });
      expect(r.code, `${actor.username} -> ${target.username} ${role}`).toBe("FORBIDDEN");
    }
    for (const role of ["ADMIN", "MEMBER", "OWNER"] as const) {
      for (const self of [g.owner.id, g.owner.username]) {
        const r = await g.owner.client.fail(SetMemberRoleForMembershipDocument, {
          conversationId: g.id,
          userId: self,
          role,
        });
        expect(r.code).toBe("BAD_USER_INPUT");
      }
    }
    expect(await dbRoles(g.id)).toEqual(before);
  });
});
