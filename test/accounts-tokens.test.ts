// Tokens that can end: logOut (this token, or everywhere), changePassword, revokeUserTokens (API key);
// roles read from the database, not trusted from the token; live sockets of a revoked token close
// with 4403 and its SSE subscriptions end, on every instance.
import { describe, expect, it } from "vitest";
import {
  AccountsBroadcastDocument,
  AccountsChangePasswordDocument,
  AccountsLogInDocument,
  AccountsLogOutDocument,
  AccountsMeDocument,
  AccountsMessageEventsDocument,
  AccountsRevokeUserTokensDocument,
} from "./gql/graphql.ts";
import { send } from "./helpers/actions.ts";
import type { Client } from "./helpers/client.ts";
import { signUp, TEST_API_KEY, type TestUser, useServers } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";
import { subscribeSse, subscribeWs, wsClient } from "./helpers/subscriptions.ts";
import { waitUntil } from "./helpers/wait.ts";

const [s1, s2] = useServers(2);
const sql = useSql();

/** A second token of the same user, from another logIn. */
async function anotherToken(user: TestUser, password = "password123") {
  const r = await s1.client.ok(AccountsLogInDocument, { username: user.username, password });
  return r.logIn.token;
}

const meCode = async (client: Client) =>
  (await client.raw(AccountsMeDocument)).errors?.[0]?.extensions?.code ?? "ok";

/**
 * The other instance learns of a revocation from the event log (within the log reader's delay);
 * the instance that made it knows at once.
 */
const untilRefused = (client: Client, what: string) =>
  waitUntil(async () => (await meCode(client)) === "UNAUTHENTICATED", { what, timeoutMs: 10_000 });

describe("logOut", () => {
  it("without everywhere ends this token only, on every instance", async () => {
    const user = await signUp(s1, "lo");
    const other = await anotherToken(user);
    expect(await meCode(user.client)).toBe("ok");
    expect((await user.client.ok(AccountsLogOutDocument, {})).logOut).toBe(true);
    expect(await meCode(user.client)).toBe("UNAUTHENTICATED");
    await untilRefused(s2.client.as({ token: user.token }), "the other instance to refuse it");
    expect(await meCode(s1.client.as({ token: other }))).toBe("ok");
    expect(await meCode(s2.client.as({ token: other }))).toBe("ok");
  });

  it("with everywhere ends every token of the user; a new logIn works", async () => {
    const user = await signUp(s1, "lo");
    const other = await anotherToken(user);
    await user.client.ok(AccountsLogOutDocument, { everywhere: true });
    for (const token of [user.token, other]) {
      expect(await meCode(s1.client.as({ token }))).toBe("UNAUTHENTICATED");
      await untilRefused(s2.client.as({ token }), "the other instance to refuse it");
    }
    expect(await meCode(s1.client.as({ token: await anotherToken(user) }))).toBe("ok");
  });
});

describe("changePassword", () => {
  it("needs the current password; then every earlier token ends, the new one and the new password work", async () => {
    const user = await signUp(s1, "cp");
    const other = await anotherToken(user);
    const wrong = await user.client.raw(AccountsChangePasswordDocument, {
      current: "not-it-at-all",
      new: "brand-new-pass",
    });
    expect(wrong.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "current" });
    expect(await meCode(user.client)).toBe("ok"); // nothing changed

    const short = await user.client.raw(AccountsChangePasswordDocument, {
      current: "password123",
      new: "short",
    });
    expect(short.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "new" });

    const changed = await user.client.ok(AccountsChangePasswordDocument, {
      current: "password123",
      new: "brand-new-pass",
    });
    for (const token of [user.token, other])
      expect(await meCode(s2.client.as({ token }))).toBe("UNAUTHENTICATED");
    expect(await meCode(s1.client.as({ token: changed.changePassword.token }))).toBe("ok");
    const old = await s1.client.raw(AccountsLogInDocument, {
      username: user.username,
      password: "password123",
    });
    expect(old.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(await meCode(s1.client.as({ token: await anotherToken(user, "brand-new-pass") }))).toBe("ok");
  });
});

describe("revokeUserTokens", () => {
  it("needs the API key; ends every token of the user, named by id or username", async () => {
    const [user, stranger] = [await signUp(s1, "rv"), await signUp(s1, "rv")];
    const denied = await stranger.client.raw(AccountsRevokeUserTokensDocument, { userId: user.id });
    expect(denied.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect(await meCode(user.client)).toBe("ok");
    const unknown = await s1.client.as({ apiKey: TEST_API_KEY }).raw(AccountsRevokeUserTokensDocument, {
      userId: "nobody-by-that-name",
    });
    expect(unknown.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");

    await s1.client
      .as({ apiKey: TEST_API_KEY })
      .ok(AccountsRevokeUserTokensDocument, { userId: user.username });
    expect(await meCode(user.client)).toBe("UNAUTHENTICATED");
    await untilRefused(s2.client.as({ token: user.token }), "the other instance to refuse it");
    expect(await meCode(stranger.client)).toBe("ok");
  });
});

describe("roles come from the database", () => {
  it("a demoted admin's token no longer broadcasts; a promoted user's token does", async () => {
    const [chief, target] = [await signUp(s1, "rl"), await signUp(s1, "rl")];
    const input = { userIds: [target.id], title: "Hello", body: "there" };
    const codeOf = async () =>
      (await chief.client.raw(AccountsBroadcastDocument, { input })).errors?.[0]?.extensions?.code ?? "ok";
    expect(await codeOf()).toBe("FORBIDDEN");
    await sql.query(`UPDATE "User" SET role = 'ADMIN' WHERE id = $1::uuid`, [chief.id]);
    // Changed outside the API: no event tells the instances, so the short session cache runs out.
    await waitUntil(async () => (await codeOf()) === "ok", {
      what: "the promotion to be seen",
      timeoutMs: 10_000,
    });
    // The same token, signed while the user was a USER, now broadcasts; and after the demotion it
    // may not, although a token signed while ADMIN says "role": "ADMIN".
    const adminToken = await anotherToken(chief);
    await sql.query(`UPDATE "User" SET role = 'USER' WHERE id = $1::uuid`, [chief.id]);
    const asAdminToken = async () =>
      (await s2.client.as({ token: adminToken }).raw(AccountsBroadcastDocument, { input })).errors?.[0]
        ?.extensions?.code ?? "ok";
    await waitUntil(async () => (await asAdminToken()) === "FORBIDDEN", {
      what: "the demotion to be seen",
      timeoutMs: 10_000,
    });
  });
});

describe("live connections of a revoked token", () => {
  it("close with 4403 over WebSocket and end over SSE, on both instances", async () => {
    const user = await signUp(s1, "ws");
    const closes: number[] = [];
    const clients = [s1, s2].map((s) => {
      const client = wsClient(s.url, user.token, { lazy: false });
      client.on("closed", (event) => closes.push((event as { code: number }).code));
      return client;
    });
    const ws = clients.map((c) => subscribeWs(c, AccountsMessageEventsDocument));
    const sse = [s1, s2].map((s) => subscribeSse(s.url, user.token, AccountsMessageEventsDocument));
    // Every subscription is live once a message to the user reaches all four.
    const friend = await signUp(s1, "ws");
    await send(friend, { to: user.username, content: "are you there?" });
    for (const sub of [...ws, ...sse]) await sub.waitFor(1, 10_000);

    await s1.client.as({ apiKey: TEST_API_KEY }).ok(AccountsRevokeUserTokensDocument, { userId: user.id });

    await waitUntil(async () => closes.length === 2, { what: "both sockets to close", timeoutMs: 10_000 });
    expect(closes).toEqual([4403, 4403]);
    for (const sub of [...ws, ...sse]) await sub.waitForEnd(10_000);
    for (const sub of sse) {
      const codes = sub.results.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code);
      expect(codes).toContain("UNAUTHENTICATED");
    }
    for (const c of clients) await c.dispose();
  });
});
