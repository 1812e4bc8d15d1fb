import { describe, expect, it } from "vitest";
import { LogInDocument, MeDocument, SignUpDocument, UpsertUserDocument } from "./gql/graphql.ts";
import { signUp, TEST_API_KEY, uniqueName, useServer } from "./helpers/server.ts";

const server = useServer();

describe("signUp / logIn / me", () => {
  it("signs up, logs in and answers me with the same user", async () => {
    const username = uniqueName("alice");
    const { signUp: s } = await server.client.ok(SignUpDocument, {
      username,
      password: "correct horse",
      displayName: "  Alice  ",
    });
    expect(s.user).toMatchObject({ username, displayName: "Alice", role: "USER" });
    const { logIn } = await server.client.ok(LogInDocument, { username, password: "correct horse" });
    expect(logIn.user.id).toBe(s.user.id);
    const { me } = await server.client.as({ token: logIn.token }).ok(MeDocument);
    expect(me).toMatchObject({ id: s.user.id, username });
  });

  it("rejects a wrong password and an unknown user alike", async () => {
    const user = await signUp(server);
    const wrong = await server.client.fail(LogInDocument, { username: user.username, password: "nope-nope" });
    const unknown = await server.client.fail(LogInDocument, {
      username: uniqueName(),
      password: "nope-nope",
    });
    expect(wrong.code).toBe("UNAUTHENTICATED");
    expect(unknown.code).toBe("UNAUTHENTICATED");
    expect(wrong.error.message).toBe(unknown.error.message);
  });

  it("refuses a taken username with CONFLICT and bad fields with BAD_USER_INPUT naming the field", async () => {
    const user = await signUp(server);
    const taken = await server.client.fail(SignUpDocument, {
      username: user.username,
      password: "password123",
      displayName: "X",
    });
    expect(taken.code).toBe("CONFLICT");
    const cases = [
      [{ username: "a", password: "password123", displayName: "X" }, "username"],
      [{ username: uniqueName(), password: "short", displayName: "X" }, "password"],
      [{ username: uniqueName(), password: "password123", displayName: "   " }, "displayName"],
    ] as const;
    for (const [vars, field] of cases) {
      const r = await server.client.fail(SignUpDocument, vars);
      expect(r.code).toBe("BAD_USER_INPUT");
      expect(r.field).toBe(field);
    }
  });

  it("answers UNAUTHENTICATED without a token, with a bad token, and with a forged one", async () => {
    expect((await server.client.fail(MeDocument)).code).toBe("UNAUTHENTICATED");
    expect((await server.client.as({ token: "garbage" }).fail(MeDocument)).code).toBe("UNAUTHENTICATED");
    const user = await signUp(server);
    const [h, p] = user.token.split(".");
    const forged = `${h}.${p}.${"A".repeat(43)}`;
    expect((await server.client.as({ token: forged }).fail(MeDocument)).code).toBe("UNAUTHENTICATED");
  });
});

describe("upsertUser (API key)", () => {
  it("creates then updates the user a host app knows by externalId, returning a working token", async () => {
    const system = server.client.as({ apiKey: TEST_API_KEY });
    const externalId = uniqueName("ext");
    const username = uniqueName("host");
    const first = await system.ok(UpsertUserDocument, { externalId, username, displayName: "Host User" });
    const second = await system.ok(UpsertUserDocument, { externalId, username, displayName: "Renamed" });
    expect(second.upsertUser.user.id).toBe(first.upsertUser.user.id);
    expect(second.upsertUser.user.displayName).toBe("Renamed");
    const { me } = await server.client.as({ token: second.upsertUser.token }).ok(MeDocument);
    expect(me.id).toBe(first.upsertUser.user.id);
  });

  it("needs the API key: none is UNAUTHENTICATED, a wrong one or a user token FORBIDDEN/UNAUTHENTICATED", async () => {
    const vars = { externalId: uniqueName("ext"), username: uniqueName(), displayName: "X" };
    expect((await server.client.fail(UpsertUserDocument, vars)).code).toBe("UNAUTHENTICATED");
    expect(
      (await server.client.as({ apiKey: "wrong-key-wrong-key" }).fail(UpsertUserDocument, vars)).code,
    ).toBe("UNAUTHENTICATED");
    const user = await signUp(server);
    expect((await user.client.fail(UpsertUserDocument, vars)).code).toBe("FORBIDDEN");
  });

  it("refuses a username that belongs to another user with CONFLICT", async () => {
    const system = server.client.as({ apiKey: TEST_API_KEY });
    const other = await signUp(server);
    const r = await system.fail(UpsertUserDocument, {
      externalId: uniqueName("ext"),
      username: other.username,
      displayName: "X",
    });
    expect(r.code).toBe("CONFLICT");
  });
});
