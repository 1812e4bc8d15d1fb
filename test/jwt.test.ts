// JWT hardening: tokens with a wrong signature, `alg: none`, another algorithm, an expiry in the
// past, a not-before in the future, another issuer or no expiry are refused over HTTP
// (UNAUTHENTICATED) and over graphql-ws (close 4403); a good token works on both. Also: no field of
// the schema can carry a password hash or the API key.
import { readFileSync } from "node:fs";
import { SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { MeDocument } from "./gql/graphql.ts";
import { initRaw, openRaw } from "./helpers/raw-ws.ts";
import { signUp, TEST_API_KEY, TEST_JWT_SECRET, type TestUser, useServer } from "./helpers/server.ts";

const server = useServer();
let user: TestUser;
beforeAll(async () => {
  user = await signUp(server, "jwt");
});

const key = new TextEncoder().encode(TEST_JWT_SECRET);
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A token exactly like the server's, with `change` applied before signing. */
function token(change: (jwt: SignJWT) => SignJWT = (j) => j, alg = "HS256", secret = key) {
  const base = new SignJWT({ role: "USER" })
    .setProtectedHeader({ alg, typ: "JWT" })
    .setSubject(user.id)
    .setIssuer("messaging-api")
    .setIssuedAt()
    .setExpirationTime("1h");
  return change(base).sign(secret);
}

async function badTokens(): Promise<[string, string][]> {
  const good = await token();
  const [header, payload] = good.split(".");
  return [
    [
      "wrong signature (other secret)",
      await token(undefined, "HS256", new TextEncoder().encode("x".repeat(48))),
    ],
    [
      "tampered payload",
      `${header}.${b64({ sub: user.id, role: "ADMIN", iss: "messaging-api", exp: now() + 3600 })}.${good.split(".")[2]}`,
    ],
    ["alg none", `${b64({ alg: "none", typ: "JWT" })}.${payload}.`],
    ["alg HS512 with the right secret", await token(undefined, "HS512")],
    ["expired", await token((j) => j.setIssuedAt(now() - 7200).setExpirationTime(now() - 60))],
    ["not yet valid (nbf)", await token((j) => j.setNotBefore(now() + 3600))],
    ["other issuer", await token((j) => j.setIssuer("someone-else"))],
    [
      "no expiry",
      await new SignJWT({ role: "USER" })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(user.id)
        .setIssuer("messaging-api")
        .sign(key),
    ],
    ["garbage", "not.a.jwt"],
  ];
}

describe("JWT over HTTP", () => {
  it("a good token signs in", async () => {
    const { me } = await server.client.as({ token: await token() }).ok(MeDocument);
    expect(me.id).toBe(user.id);
  });

  it("every bad token answers UNAUTHENTICATED and no data", async () => {
    const rows: { name: string; code: unknown; data: unknown }[] = [];
    for (const [name, bad] of await badTokens()) {
      const res = await server.client.as({ token: bad }).raw(MeDocument);
      rows.push({ name, code: res.errors?.[0]?.extensions?.code, data: res.data ?? null });
    }
    expect(rows).toEqual(rows.map((r) => ({ ...r, code: "UNAUTHENTICATED", data: null })));
  });
});

describe("JWT over graphql-ws", () => {
  it("a good token is acknowledged", async () => {
    const socket = await openRaw(server.url);
    await initRaw(socket, await token());
    socket.close();
  });

  it("every bad token closes the socket with 4403", async () => {
    const rows: { name: string; code: number }[] = [];
    for (const [name, bad] of await badTokens()) {
      const socket = await openRaw(server.url);
      socket.send({ type: "connection_init", payload: { authorization: `Bearer ${bad}` } });
      rows.push({ name, code: (await socket.waitClose()).code });
    }
    expect(rows).toEqual(rows.map((r) => ({ ...r, code: 4403 })));
  });
});

describe("secrets never leave the server", () => {
  it("no output field of the schema is a password, a hash or the API key", () => {
    const sdl = readFileSync(new URL("../schema.graphql", import.meta.url), "utf8");
    // Every object type's fields, but the Mutation root's: those are operations (changePassword
    // takes a password; what it returns is an AuthPayload, checked here like every other type).
    const outputFields = [...sdl.matchAll(/^type (\w+)[^{]*\{([^}]*)\}/gm)]
      .filter((m) => m[1] !== "Mutation")
      .flatMap((m) => [...(m[2] ?? "").matchAll(/^\s+(\w+)[(:]/gm)].map((f) => f[1] ?? ""));
    expect(outputFields.length).toBeGreaterThan(30);
    // (A webhook endpoint's own signing secret is shown to the API-key holder who registers it.)
    expect(outputFields.filter((f) => /password|hash|apikey/i.test(f))).toEqual([]);
  });

  it("signUp, logIn and me answer without the hash, the password or the API key", async () => {
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${user.token}` },
      body: JSON.stringify({ query: "{ me { id username displayName role __typename } }" }),
    });
    const text = await res.text();
    expect(text).toContain(user.id);
    expect(text).not.toMatch(/scrypt\$|password123/);
    expect(text).not.toContain(TEST_API_KEY);
    expect(text).not.toContain(TEST_JWT_SECRET);
  });
});
