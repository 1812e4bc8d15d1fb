// Safe by default: what a fresh clone does with nothing configured. No published signing secret, no
// network exposure, no error details unless someone asked for them by name, and config mistakes
// told plainly. Each case starts its own app with exactly the environment it is about.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SignJWT } from "jose";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type App, buildApp } from "../src/app/app.ts";
import { loadConfig } from "../src/core/config.ts";
import { applyMigrations } from "../src/core/migrations.ts";
import { Client } from "./helpers/client.ts";
import { createScratchDatabase, type ScratchDatabase } from "./helpers/scratch-database.ts";
import { uniqueName } from "./helpers/server.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
/** The fallback secret earlier versions shipped in src/config.ts: anyone could read it. */
const PUBLISHED_SECRET = "dev-only-insecure-secret-change-me-0123456789";
const API_KEY = "safe-defaults-api-key-0123456789";

const SIGN_UP = `mutation SafeDefaultsSignUp($username: String!) {
  signUp(username: $username, password: "password123", displayName: "Someone") { token user { id } }
}`;
const BROADCAST = `mutation SafeDefaultsBroadcast {
  broadcast(input: { everyone: true, title: "pwned", body: "forged" }) { id status }
}`;
const ME = "query SafeDefaultsMe { me { id role } }";
const CREATE_TOPIC = `mutation SafeDefaultsCreateTopic($key: String!, $name: String!) {
  createTopic(key: $key, name: $name) { id }
}`;

/** An app built from exactly `env` (no NODE_ENV unless given), on this run's test database. */
async function appWith(env: Record<string, string>, databaseUrl = inject("databaseUrl")) {
  const app = await buildApp(loadConfig({ DATABASE_URL: databaseUrl, LOG_LEVEL: "silent", ...env }));
  const url = await app.start(0);
  return { app, url, client: new Client(url) };
}

const forge = (sub: string, secret: string) =>
  new SignJWT({ role: "ADMIN" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuer("messaging-api")
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(secret));

describe("without JWT_SECRET (and NODE_ENV unset)", () => {
  let app: App;
  let client: Client;
  beforeAll(async () => {
    ({ app, client } = await appWith({ API_KEY }));
  });
  afterAll(() => app?.stop());

  it("refuses a token forged with the secret once published in the source, even one that says ADMIN", async () => {
    const signUp = await client.raw<{ signUp: { user: { id: string } } }, { username: string }>(SIGN_UP, {
      username: uniqueName("sd"),
    });
    const id = signUp.data?.signUp.user.id ?? "";
    expect(id).not.toBe("");
    const forged = client.as({ token: await forge(id, PUBLISHED_SECRET) });
    const me = await forged.raw(ME);
    expect(me.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const broadcast = await forged.raw<{ broadcast: unknown }, Record<string, never>>(BROADCAST);
    expect(broadcast.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(broadcast.data?.broadcast ?? null).toBeNull();
  });

  it("signs its own tokens with a random secret of this process: they work here, not elsewhere", async () => {
    const r = await client.raw<{ signUp: { token: string } }, { username: string }>(SIGN_UP, {
      username: uniqueName("sd"),
    });
    const token = r.data?.signUp.token ?? "";
    expect((await client.as({ token }).raw<{ me: { id: string } }, never>(ME)).data?.me.id).toBeTruthy();
    const a = loadConfig({});
    const b = loadConfig({});
    expect(a.jwtSecret).not.toBe(b.jwtSecret);
    expect([a.jwtSecret, b.jwtSecret]).not.toContain(PUBLISHED_SECRET);
    expect(a.jwtSecret.length).toBeGreaterThanOrEqual(32);
  });

  it("listens on loopback only unless HOST is set", () => {
    const address = app.server.address();
    expect(typeof address === "object" && address ? address.address : address).toBe("127.0.0.1");
    expect(loadConfig({}).host).toBe("127.0.0.1");
    expect(loadConfig({ HOST: "0.0.0.0" }).host).toBe("0.0.0.0");
  });
});

describe("details of unexpected errors", () => {
  // A database of its own, where a CHECK constraint the code does not know about makes an insert
  // fail inside the database: a real unexpected error, with SQL in its details.
  let db: ScratchDatabase;
  beforeAll(async () => {
    db = await createScratchDatabase("safe_defaults");
    await applyMigrations(db.url);
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    await sql.query(`ALTER TABLE "Topic" ADD CONSTRAINT topic_name_short CHECK (length(name) < 10)`);
    await sql.end();
  }, 60_000);
  afterAll(() => db?.drop());

  const failOnce = async (env: Record<string, string>) => {
    const { app, client } = await appWith({ API_KEY, JWT_SECRET: "x".repeat(40), ...env }, db.url);
    try {
      return await client.as({ apiKey: API_KEY }).raw<unknown, { key: string; name: string }>(CREATE_TOPIC, {
        key: uniqueName("t"),
        name: "a long topic name",
      });
    } finally {
      await app.stop();
    }
  };

  it("are masked with NODE_ENV unset: no stack, no SQL, no constraint name", async () => {
    const r = await failOnce({});
    expect(r.errors?.[0]?.message).toBe("Unexpected error.");
    const text = JSON.stringify(r);
    expect(text).not.toMatch(/topic_name_short|stack|originalError|INSERT|prisma/i);
  });

  it("are shown when NODE_ENV=development is set explicitly", async () => {
    const r = await failOnce({ NODE_ENV: "development" });
    expect(JSON.stringify(r)).toMatch(/topic_name_short|originalError/);
  });
});

describe("a bad configuration", () => {
  it("prints one line per bad variable and exits 1, without a stack trace", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        PORT: "not-a-port",
        JWT_SECRET: "short",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => {
      output += String(d);
    });
    child.stderr.on("data", (d) => {
      output += String(d);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    clearTimeout(timer);
    expect(code, output).toBe(1);
    expect(output).toMatch(/^\s*PORT: .+$/m);
    expect(output).toMatch(/^\s*JWT_SECRET: .+$/m);
    expect(output, "no stack trace").not.toMatch(/^\s+at /m);
  });
});
