// Usernames are one name whatever their case ("Alice" and "alice" cannot both exist), and the
// migration that made them so settles existing clashes the same way every time.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { applyMigrations, readMigrations } from "../src/core/migrations.ts";
import { AccountsLogInDocument, AccountsSignUpDocument } from "./gql/graphql.ts";
import { send } from "./helpers/actions.ts";
import { signUp, TEST_API_KEY, uniqueName, useScratchDatabase, useServer } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";

const server = useServer();

const UPSERT = `mutation UsernamesUpsert($externalId: String!, $username: String!) {
  upsertUser(externalId: $externalId, username: $username, displayName: "Host user") { user { id username } }
}`;

describe("usernames through the API", () => {
  it("signUp refuses a name that differs from a taken one only in case (CONFLICT on username)", async () => {
    const name = uniqueName("Case");
    await server.client.ok(AccountsSignUpDocument, {
      username: name,
      password: "password123",
      displayName: "A",
    });
    for (const variant of [name.toLowerCase(), name.toUpperCase()]) {
      const r = await server.client.raw(AccountsSignUpDocument, {
        username: variant,
        password: "password123",
        displayName: "B",
      });
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: "CONFLICT", field: "username" });
    }
  });

  it("upsertUser refuses another user's name in another case; the same user may change its case", async () => {
    const name = uniqueName("Host");
    const externalId = uniqueName("ext");
    const system = server.client.as({ apiKey: TEST_API_KEY });
    expect((await system.raw(UPSERT, { externalId, username: name })).errors).toBeUndefined();
    const clash = await system.raw(UPSERT, { externalId: uniqueName("ext"), username: name.toUpperCase() });
    expect(clash.errors?.[0]?.extensions).toMatchObject({ code: "CONFLICT", field: "username" });
    const renamed = await system.raw<{ upsertUser: { user: { username: string } } }, Record<string, string>>(
      UPSERT,
      { externalId, username: name.toUpperCase() },
    );
    expect(renamed.data?.upsertUser.user.username).toBe(name.toUpperCase());
  });

  it("logIn and every user reference accept any case of the name", async () => {
    const user = await signUp(server, "MiXeD");
    const loggedIn = await server.client.ok(AccountsLogInDocument, {
      username: user.username.toUpperCase(),
      password: "password123",
    });
    expect(loggedIn.logIn.user.id).toBe(user.id);
    const other = await signUp(server, "sender");
    const message = await send(other, { to: user.username.toUpperCase(), content: "found you" });
    expect(message.id).toBeTruthy();
  });
});

describe("the migration on existing clashes", () => {
  const db = useScratchDatabase("usernames_migration");
  const sql = useSql(() => db.url);

  it("keeps the oldest account's name and renames the later ones deterministically, within the limits", async () => {
    // Every migration before the one that made usernames case-insensitive, in a directory of its own.
    const all = readMigrations();
    const cut = all.findIndex((m) => m.name.endsWith("_accounts_tokens"));
    expect(cut).toBeGreaterThan(0);
    const before = fs.mkdtempSync(path.join(os.tmpdir(), "usernames-before-"));
    for (const m of all.slice(0, cut)) {
      fs.mkdirSync(path.join(before, m.name));
      fs.writeFileSync(path.join(before, m.name, "migration.sql"), m.sql);
    }
    await applyMigrations(db.url, { migrationsDir: before });
    const insert = (id: string, username: string, at: string) =>
      sql.query(
        `INSERT INTO "User" (id, username, "displayName", "createdAt", "updatedAt")
         VALUES ($1::uuid, $2, $2, $3::timestamptz, now())`,
        [id, username, at],
      );
    const long = "Abcdefghijklmnopqrstuvwxyz01"; // 28 characters: a renamed copy must still fit 32
    await insert("01000000-0000-7000-8000-00000000000a", "Alice", "2026-01-01T00:00:00Z");
    await insert("01000000-0000-7000-8000-0000000000b2", "alice", "2026-01-02T00:00:00Z");
    await insert("01000000-0000-7000-8000-0000000000c3", "ALICE", "2026-01-02T00:00:00Z");
    await insert("01000000-0000-7000-8000-0000000000d4", long, "2026-01-01T00:00:00Z");
    await insert("01000000-0000-7000-8000-0000000000e5", long.toLowerCase(), "2026-01-03T00:00:00Z");
    await insert("01000000-0000-7000-8000-0000000000f6", "bob", "2026-01-01T00:00:00Z");

    await applyMigrations(db.url);

    const rows = await sql.query<{ id: string; username: string; usernameKey: string }>(
      `SELECT id::text, username, "usernameKey" FROM "User" ORDER BY id`,
    );
    expect(rows.map((r) => [r.id.slice(-2), r.username])).toEqual([
      ["0a", "Alice"],
      ["b2", "alice-000000b2"],
      ["c3", "ALICE-000000c3"],
      ["d4", long],
      ["e5", `${long.toLowerCase().slice(0, 23)}-000000e5`],
      ["f6", "bob"],
    ]);
    for (const r of rows) {
      expect(r.usernameKey).toBe(r.username.toLowerCase());
      expect(r.username).toMatch(/^[A-Za-z0-9_.-]{3,32}$/);
    }
    expect(new Set(rows.map((r) => r.usernameKey)).size).toBe(rows.length);
  });
});
