import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { type App, buildApp } from "../../src/app/app.ts";
import { loadConfig } from "../../src/core/config.ts";
import { SignUpDocument } from "../gql/graphql.ts";
import { Client } from "./client.ts";

export const TEST_API_KEY = "test-api-key-0123456789abcdef";
export const TEST_JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789";

export type TestServer = { app: App; url: string; client: Client; stop(): Promise<void> };

/** Starts a real app instance on a free port against this run's PostgreSQL test database. */
export async function startServer(env: Record<string, string> = {}): Promise<TestServer> {
  const databaseUrl = inject("databaseUrl");
  if (!databaseUrl) throw new Error("PostgreSQL is not available for this test run");
  const config = loadConfig({
    NODE_ENV: "test",
    DATABASE_URL: databaseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    API_KEY: TEST_API_KEY,
    // Test receivers listen on 127.0.0.1; test/webhooks-ssrf.test.ts turns this off to check the guard.
    WEBHOOK_ALLOW_PRIVATE: "true",
    ...env,
  });
  const app = await buildApp(config);
  const url = await app.start(0, "127.0.0.1");
  return { app, url, client: new Client(url), stop: () => app.stop() };
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
