// The daily digest sends its email with no database transaction open: it claims its deliveries in
// one short transaction, sends, and records the outcome in another. Checked from inside the mail
// server, while the app waits for its answer: the user's digest lock is free and the deliveries are
// not locked (before, the whole send ran inside the transaction that held both). Two runs at once
// send each delivery once. And a run killed between sending and recording (the app as its own
// process, SIGKILLed while its record statement waits on a row lock the test holds) leaves a claim;
// once that claim lapses the next run resends the same email once, same Message-ID, and records it.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AddTargetDocument,
  SendDigestNowDocument,
  SendNotificationDocument,
  SetNotificationPreferencesDocument,
  SignUpDocument,
} from "./gql/graphql.ts";
import { Client } from "./helpers/client.ts";
import { killAll, type ServerProc, startServerProcess } from "./helpers/processes.ts";
import {
  TEST_API_KEY,
  TEST_JWT_SECRET,
  uniqueName,
  useScratchDatabase,
  useServer,
} from "./helpers/server.ts";
import { type SmtpSink, startSmtp } from "./helpers/smtp.ts";
import { waitUntil } from "./helpers/wait.ts";

/** A digest user: DAILY_DIGEST far from now (no digest job comes due), one email target. */
async function digestUser(client: Client, system: Client) {
  const username = uniqueName("dg");
  const { signUp: up } = await client.ok(SignUpDocument, {
    username,
    password: "password123",
    displayName: "D",
  });
  const user = client.as({ token: up.token });
  const hour = (new Date().getUTCHours() + 12) % 24;
  await user.ok(SetNotificationPreferencesDocument, { route: "DAILY_DIGEST", digestHourUtc: hour });
  const address = `${username}@example.test`;
  await user.ok(AddTargetDocument, { kind: "EMAIL", address });
  for (const title of ["Weekly report ready", "Invoice overdue"]) {
    await system.ok(SendNotificationDocument, { userId: up.user.id, title, body: `${title}.` });
  }
  return { id: up.user.id, address, client: user };
}

describe("the digest email goes out with no transaction open", () => {
  const scratch = useScratchDatabase("digest_tx");
  let pool: pg.Pool;
  let mailServer: SmtpSink;
  /** What the probe saw while each mail was being sent. */
  const seen: { to: string; digestLockFree: boolean; deliveriesLockable: boolean }[] = [];
  /** The user the probe looks at (set before each send). */
  let probed = "";

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: scratch.url, max: 3 });
    mailServer = await startSmtp({
      beforeAccept: async (mail) => {
        const c = await pool.connect();
        try {
          await c.query("BEGIN");
          const { rows } = await c.query<{ free: boolean }>(
            "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS free",
            [`digest:${probed}`],
          );
          let deliveriesLockable = true;
          try {
            await c.query(`SELECT id FROM "Delivery" WHERE "userId" = $1::uuid FOR UPDATE NOWAIT`, [probed]);
          } catch (error) {
            if ((error as { code?: string }).code !== "55P03") throw error;
            deliveriesLockable = false;
          }
          seen.push({ to: mail.to.join(","), digestLockFree: rows[0]?.free === true, deliveriesLockable });
        } finally {
          await c.query("ROLLBACK");
          c.release();
        }
      },
    });
  });
  // Registered before the server: after-hooks run in reverse, so the server stops first.
  afterAll(async () => {
    await mailServer?.close();
    await pool?.end();
  });
  const server = useServer(() => ({ DATABASE_URL: scratch.url, SMTP_URL: mailServer.url }));

  it("sendDigestNow: while the mail server holds the email, nothing of the digest is locked", async () => {
    const system = server.client.as({ apiKey: TEST_API_KEY });
    const user = await digestUser(server.client, system);
    probed = user.id;
    expect((await user.client.ok(SendDigestNowDocument, {})).sendDigestNow).toBe(2);
    expect(seen.filter((s) => s.to === user.address)).toEqual([
      { to: user.address, digestLockFree: true, deliveriesLockable: true },
    ]);
    const { rows } = await pool.query<{ state: string; attempts: number; claimed: boolean }>(
      `SELECT state::text, attempts, "digestClaim" IS NOT NULL AS claimed FROM "Delivery" WHERE "userId" = $1::uuid`,
      [user.id],
    );
    expect(rows).toEqual([
      { state: "SENT", attempts: 1, claimed: false },
      { state: "SENT", attempts: 1, claimed: false },
    ]);
  });

  it("two runs at once send each delivery once: one email in all", async () => {
    const system = server.client.as({ apiKey: TEST_API_KEY });
    const user = await digestUser(server.client, system);
    probed = user.id;
    const counts = await Promise.all([
      user.client.ok(SendDigestNowDocument, {}),
      system.ok(SendDigestNowDocument, { userId: user.id }),
      user.client.ok(SendDigestNowDocument, {}),
    ]);
    expect(counts.map((c) => c.sendDigestNow).reduce((a, b) => a + b, 0)).toBe(2);
    expect(mailServer.mails.filter((m) => m.to.join(",") === user.address)).toHaveLength(1);
  });
});

describe("a run killed between sending and recording", () => {
  const scratch = useScratchDatabase("digest_crash");
  let pool: pg.Pool;
  let mailServer: SmtpSink;
  /** Set while the first mail is held: the test's row locks on the user's deliveries. */
  let locker: pg.PoolClient | undefined;
  let lockFor = "";

  const env = () => ({
    DATABASE_URL: scratch.url,
    API_KEY: TEST_API_KEY,
    JWT_SECRET: TEST_JWT_SECRET,
    SMTP_URL: mailServer.url,
    JOB_POLL_SECONDS: "0.5",
  });

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: scratch.url, max: 3 });
    mailServer = await startSmtp({
      beforeAccept: async () => {
        if (!lockFor || locker) return;
        // The first digest mail: lock its deliveries before answering 250, so that the app's record
        // statement waits on them after the send succeeded.
        locker = await pool.connect();
        await locker.query("BEGIN");
        await locker.query(`SELECT id FROM "Delivery" WHERE "userId" = $1::uuid FOR UPDATE`, [lockFor]);
      },
    });
  });

  afterAll(async () => {
    await killAll();
    await locker?.query("ROLLBACK").catch(() => {});
    locker?.release();
    await mailServer?.close();
    await pool?.end();
  });

  it("resends the same email once (same Message-ID) after the claim lapses, then records it", {
    timeout: 120_000,
  }, async () => {
    let proc: ServerProc = await startServerProcess(env()); // migrates the fresh database
    let client = new Client(proc.url);
    const user = await digestUser(client, client.as({ apiKey: TEST_API_KEY }));
    lockFor = user.id;

    // The run: the mail goes out, the record waits on our lock, and the process dies there.
    const run = user.client.ok(SendDigestNowDocument, {}).catch((e: Error) => e);
    const blocked = async () =>
      Number(
        (
          await pool.query<{ n: string }>(
            `SELECT count(*) AS n FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
          )
        ).rows[0]?.n,
      ) > 0;
    await waitUntil(blocked, {
      what: "the app's record statement waiting on the test's row lock",
      timeoutMs: 30_000,
    });
    await proc.kill();
    expect(await run).toBeInstanceOf(Error);
    await locker?.query("ROLLBACK");
    locker?.release();
    locker = undefined;
    lockFor = "";
    expect(mailServer.mails.filter((m) => m.to.join(",") === user.address)).toHaveLength(1);

    // The claim outlived its run: the deliveries are still waiting, claimed until the claim lapses.
    const state = async () =>
      (
        await pool.query<{ state: string; attempts: number; claimed: boolean }>(
          `SELECT state::text, attempts, "digestClaim" IS NOT NULL AS claimed FROM "Delivery"
            WHERE "userId" = $1::uuid ORDER BY id`,
          [user.id],
        )
      ).rows;
    expect(await state()).toEqual([
      { state: "QUEUED", attempts: 0, claimed: true },
      { state: "QUEUED", attempts: 0, claimed: true },
    ]);

    proc = await startServerProcess(env());
    client = new Client(proc.url);
    const again = client.as({ apiKey: TEST_API_KEY });
    // While the claim holds, another run leaves the claimed set alone (its run might be alive).
    expect((await again.ok(SendDigestNowDocument, { userId: user.id })).sendDigestNow).toBe(0);
    expect(mailServer.mails.filter((m) => m.to.join(",") === user.address)).toHaveLength(1);

    // Time passes (the claim lasts as long as a job may run, 60 s): stand in for it.
    await pool.query(
      `UPDATE "Delivery" SET "digestClaimUntil" = now() - interval '1 second' WHERE "userId" = $1::uuid`,
      [user.id],
    );
    expect((await again.ok(SendDigestNowDocument, { userId: user.id })).sendDigestNow).toBe(2);
    const mails = mailServer.mails.filter((m) => m.to.join(",") === user.address);
    expect(mails).toHaveLength(2);
    expect(mails[1]?.messageId).toBe(mails[0]?.messageId);
    expect(mails[1]?.subject).toBe(mails[0]?.subject);
    expect(await state()).toEqual([
      { state: "SENT", attempts: 1, claimed: false },
      { state: "SENT", attempts: 1, claimed: false },
    ]);
    expect((await again.ok(SendDigestNowDocument, { userId: user.id })).sendDigestNow).toBe(0);
    expect(mailServer.mails.filter((m) => m.to.join(",") === user.address)).toHaveLength(2);
  });
});
