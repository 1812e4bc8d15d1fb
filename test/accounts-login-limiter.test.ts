// Failed logIns are limited per (IP, username), and the limiter takes its point before the password
// is checked: parallel guesses cannot all pass a check made before any of them failed, and a
// stranger guessing from one address cannot lock the owner out from another.
import { describe, expect, it } from "vitest";
import { AccountsLogInDocument } from "./gql/graphql.ts";
import { signUp, useServer } from "./helpers/server.ts";

const LIMIT = 5;
// TRUST_PROXY=1: the client's address is the last X-Forwarded-For entry, so one test process can
// speak as several addresses (the header is only a string; every request goes to 127.0.0.1).
const server = useServer({ RATE_LIMIT_LOGIN_FAILURES_PER_USERNAME: String(LIMIT), TRUST_PROXY: "1" });

async function logIn(from: string, username: string, password: string): Promise<string> {
  const res = await fetch(server.url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": from },
    body: JSON.stringify({ query: AccountsLogInDocument.toString(), variables: { username, password } }),
  });
  const body = (await res.json()) as { errors?: { extensions?: { code?: string } }[] };
  return body.errors?.[0]?.extensions?.code ?? "ok";
}

describe("failed logIns", () => {
  it(`40 parallel wrong guesses get at most ${LIMIT} passwords checked; the rest are RATE_LIMITED`, async () => {
    const victim = await signUp(server, "lim");
    const codes = await Promise.all(
      Array.from({ length: 40 }, (_, i) => logIn("198.51.100.7", victim.username, `wrong-guess-${i}`)),
    );
    const checked = codes.filter((c) => c === "UNAUTHENTICATED").length;
    expect(checked).toBeLessThanOrEqual(LIMIT);
    expect(checked).toBeGreaterThan(0);
    expect(codes.filter((c) => c === "RATE_LIMITED").length).toBe(40 - checked);
    // From that address even the right password waits now ...
    expect(await logIn("198.51.100.7", victim.username, "password123")).toBe("RATE_LIMITED");
    // ... but the owner, from elsewhere, is not locked out.
    expect(await logIn("203.0.113.20", victim.username, "password123")).toBe("ok");
  });

  it("a success clears the count of its address", async () => {
    const user = await signUp(server, "lim");
    for (let i = 0; i < LIMIT - 1; i++)
      expect(await logIn("192.0.2.1", user.username, "nope-nope")).toBe("UNAUTHENTICATED");
    expect(await logIn("192.0.2.1", user.username, "password123")).toBe("ok");
    for (let i = 0; i < LIMIT - 1; i++)
      expect(await logIn("192.0.2.1", user.username, "nope-nope")).toBe("UNAUTHENTICATED");
    expect(await logIn("192.0.2.1", user.username, "password123")).toBe("ok");
  });
});
