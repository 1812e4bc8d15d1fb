// Real app instances for the tests, in the test process, on free ports, and the scratch databases
// some of them run on. Every one is a fixture that cleans up after itself (graphql-ws
// tests/utils/tservers.ts style): `useServer` / `useServers` / `useScratchDatabase` for the tests of
// a file or describe block, `startServer` for one test.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, inject, onTestFinished } from "vitest";
import { type App, buildApp } from "../../src/app/app.ts";
import { loadConfig } from "../../src/core/config.ts";
import { applyMigrations } from "../../src/core/migrations.ts";
import { LogInDocument, SignUpDocument } from "../gql/graphql.ts";
import { Client } from "./client.ts";
import { createScratchDatabase, type ScratchDatabase } from "./scratch-database.ts";
import { within } from "./wait.ts";

export const TEST_API_KEY = "test-api-key-0123456789abcdef";
export const TEST_JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789";

/** Environment variables for an instance, on top of the test defaults. */
export type Env = Record<string, string>;

export type TestServer = {
  app: App;
  url: string;
  /** A client without credentials (`client.as({ token })` for a user). */
  client: Client;
  /** Stops the instance now (bounded; later calls return the same promise). Fixtures call it anyway. */
  stop(): Promise<void>;
};

const STOP_TIMEOUT_MS = 15_000;

function databaseUrl(): string {
  const url = inject("databaseUrl");
  if (!url) throw new Error("PostgreSQL is not available for this test run");
  return url;
}

/** A real app instance on a free port, against this run's test database unless env says otherwise. */
async function launch(env: Env): Promise<TestServer> {
  const config = loadConfig({
    NODE_ENV: "test",
    DATABASE_URL: databaseUrl(),
    JWT_SECRET: TEST_JWT_SECRET,
    API_KEY: TEST_API_KEY,
    // Test receivers listen on 127.0.0.1; test/webhooks-ssrf.test.ts turns this off to check the guard.
    WEBHOOK_ALLOW_PRIVATE: "true",
    ...env,
  });
  const app = await buildApp(config);
  const url = await app.start(0, "127.0.0.1");
  let stopping: Promise<void> | undefined;
  return {
    app,
    url,
    client: new Client(url),
    stop: () => {
      stopping ??= within(app.stop(), STOP_TIMEOUT_MS, `the instance at ${url} to stop`);
      return stopping;
    },
  };
}

/** A stand-in for a value a beforeAll provides, that says so when it is read too early. */
function notYet(what: string): never {
  throw new Error(`${what} is not started yet: use it in tests, or in hooks registered after it`);
}

/** A tuple of `N` servers. */
type Servers<N extends number, R extends TestServer[] = []> = R["length"] extends N
  ? R
  : Servers<N, [...R, TestServer]>;

/**
 * `count` app instances for the tests of the enclosing file or describe block: started before
 * them, stopped after them. `env` may be a function, read at the start (for what other fixtures
 * provide then, e.g. a scratch database's URL). The first instance starts alone (it applies a fresh
 * database's migrations), the others side by side. The handles read the running instances at each
 * use, so they can be declared at the top of a file, before anything has started.
 */
export function useServers<N extends number>(count: N, env: Env | (() => Env) = {}): Servers<N> {
  const started: (TestServer | undefined)[] = Array.from({ length: count }, () => undefined);
  beforeAll(async () => {
    const vars = typeof env === "function" ? env() : env;
    started[0] = await launch(vars);
    const rest = await Promise.allSettled(started.slice(1).map(() => launch(vars)));
    rest.forEach((result, i) => {
      if (result.status === "fulfilled") started[i + 1] = result.value;
    });
    const failed = rest.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
  });
  afterAll(async () => {
    await Promise.all(started.map((server) => server?.stop()));
  });
  const handles = started.map((_, i): TestServer => {
    const server = () => started[i] ?? notYet(`useServers() instance ${i + 1}`);
    return {
      get app() {
        return server().app;
      },
      get url() {
        return server().url;
      },
      get client() {
        return server().client;
      },
      stop: () => server().stop(),
    };
  });
  return handles as Servers<N>;
}

/** One app instance for the tests of the enclosing file or describe block (see `useServers`). */
export function useServer(env: Env | (() => Env) = {}): TestServer {
  const [server] = useServers(1, env);
  return server;
}

/**
 * An app instance for the running test only: it stops when the test finishes, passed or failed.
 * Call `stop()` earlier where the order matters (e.g. before a Redis it uses goes away).
 */
export async function startServer(env: Env = {}): Promise<TestServer> {
  let server: TestServer | undefined;
  // Registered first: outside a test this throws before anything was started.
  onTestFinished(async () => {
    await server?.stop();
  });
  server = await launch(env);
  return server;
}

/**
 * A fresh database for the tests of the enclosing file or describe block, created before them
 * (with the migrations applied when `migrate`; otherwise the first instance started on it applies
 * them) and dropped after them. Register it before the servers and SQL pools that use it: vitest
 * runs after-hooks in the reverse order of registration, so they are gone before the drop.
 */
export function useScratchDatabase(prefix: string, { migrate = false } = {}): Omit<ScratchDatabase, "drop"> {
  let db: ScratchDatabase | undefined;
  beforeAll(async () => {
    databaseUrl(); // PostgreSQL is there
    db = await createScratchDatabase(prefix);
    if (migrate) await applyMigrations(db.url);
  });
  afterAll(async () => {
    await db?.drop();
  });
  return {
    get name() {
      return db?.name ?? notYet(`useScratchDatabase("${prefix}")`);
    },
    get url() {
      return db?.url ?? notYet(`useScratchDatabase("${prefix}")`);
    },
  };
}

/** A username no other test (or earlier run) uses. */
export const uniqueName = (prefix = "u") => `${prefix}_${randomBytes(5).toString("hex")}`;

export type TestUser = { id: string; username: string; token: string; client: Client };

/** Signs up a fresh user and returns a client acting as them. */
export async function signUp(server: TestServer, prefix = "u", password = "password123"): Promise<TestUser> {
  const username = uniqueName(prefix);
  const data = await server.client.ok(SignUpDocument, {
    username,
    password,
    displayName: `User ${username}`,
  });
  const { token, user } = data.signUp;
  return { id: user.id, username: user.username, token, client: server.client.as({ token }) };
}

/** Signs `user` in again (after a test ended its session): the same user with a fresh token. */
export async function signInAgain(
  server: TestServer,
  user: TestUser,
  password = "password123",
): Promise<TestUser> {
  const { logIn } = await server.client.ok(LogInDocument, { username: user.username, password });
  return { ...user, token: logIn.token, client: server.client.as({ token: logIn.token }) };
}
