// The migration runner against real PostgreSQL: each test gets its own empty scratch database.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterEach, describe, expect, inject, test } from "vitest";
import { openDatabase } from "../src/core/db.ts";
import { applyMigrations, migrationStatus, readMigrations } from "../src/core/migrations.ts";
import { createScratchDatabase, type ScratchDatabase } from "./helpers/scratch-database.ts";

const databaseUrl = inject("databaseUrl");

type Row = {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  logs: string | null;
  applied_steps_count: number;
};

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

const migrationRows = (url: string) =>
  query<Row>(url, `SELECT * FROM "_prisma_migrations" ORDER BY started_at, migration_name`);

/** A throwaway migrations directory, for histories the real one does not have (edited, failing). */
function tempMigrations(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "migrations-test-"));
  for (const [name, sql] of Object.entries(files)) {
    fs.mkdirSync(path.join(dir, name));
    fs.writeFileSync(path.join(dir, name, "migration.sql"), sql);
  }
  return dir;
}

describe.skipIf(!databaseUrl)("migration runner (PostgreSQL)", () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  async function scratch(): Promise<ScratchDatabase> {
    const db = await createScratchDatabase("migrations_test");
    cleanup.push(() => db.drop());
    return db;
  }

  const migrations = readMigrations();

  test("the project has migrations and the run's test database has them all applied", async () => {
    expect(migrations.length).toBeGreaterThan(0);
    const status = await migrationStatus(databaseUrl);
    expect(status).toEqual(migrations.map((m) => ({ name: m.name, state: "applied" })));
  });

  test("applies every migration to an empty database, in Prisma's format, and is idempotent", async () => {
    const db = await scratch();
    expect(await migrationStatus(db.url)).toEqual(
      migrations.map((m) => ({ name: m.name, state: "pending" })),
    );

    expect(await applyMigrations(db.url)).toEqual(migrations.map((m) => m.name));
    const rows = await migrationRows(db.url);
    expect(rows).toHaveLength(migrations.length);
    for (const [i, m] of migrations.entries()) {
      const row = rows[i];
      expect(row?.migration_name).toBe(m.name);
      expect(row?.checksum).toBe(m.checksum);
      expect(row?.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(row?.finished_at).toBeInstanceOf(Date);
      expect(row?.rolled_back_at).toBeNull();
      expect(row?.logs).toBeNull();
      expect(row?.applied_steps_count).toBe(1);
    }
    // The schema itself is there.
    expect(await query(db.url, `SELECT count(*)::int AS n FROM "User"`)).toEqual([{ n: 0 }]);

    expect(await applyMigrations(db.url)).toEqual([]);
    expect(await migrationRows(db.url)).toEqual(rows);
  });

  test("concurrent runs on one fresh database both succeed and apply each migration once", async () => {
    const db = await scratch();
    const results = await Promise.all([
      applyMigrations(db.url),
      applyMigrations(db.url),
      applyMigrations(db.url),
    ]);
    // The advisory lock serializes them: exactly one run applied everything, the others found nothing to do.
    expect(results.flat().sort()).toEqual(migrations.map((m) => m.name).sort());
    expect(results.filter((r) => r.length > 0)).toHaveLength(1);
    expect((await migrationRows(db.url)).map((r) => r.migration_name)).toEqual(migrations.map((m) => m.name));
  });

  test("refuses to run when an applied migration was edited", async () => {
    const db = await scratch();
    const dir = tempMigrations({ "001_a": "CREATE TABLE a (id int);", "002_b": "CREATE TABLE b (id int);" });
    cleanup.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    expect(await applyMigrations(db.url, { migrationsDir: dir })).toEqual(["001_a", "002_b"]);

    fs.writeFileSync(path.join(dir, "001_a", "migration.sql"), "CREATE TABLE a (id bigint);");
    fs.mkdirSync(path.join(dir, "003_c"));
    fs.writeFileSync(path.join(dir, "003_c", "migration.sql"), "CREATE TABLE c (id int);");
    await expect(applyMigrations(db.url, { migrationsDir: dir })).rejects.toThrow(
      /001_a was edited after it was applied/,
    );
    expect(await migrationStatus(db.url, { migrationsDir: dir })).toEqual([
      { name: "001_a", state: "edited" },
      { name: "002_b", state: "applied" },
      { name: "003_c", state: "pending" },
    ]);
    // Nothing was applied by the refused run.
    expect(await query(db.url, `SELECT to_regclass('c') IS NULL AS missing`)).toEqual([{ missing: true }]);
  });

  test("records a failed migration atomically and refuses until it is marked rolled back", async () => {
    const db = await scratch();
    const dir = tempMigrations({
      "001_ok": "CREATE TABLE ok (id int);",
      "002_bad": "CREATE TABLE half (id int);\nSELECT no_such_function();",
    });
    cleanup.push(async () => fs.rmSync(dir, { recursive: true, force: true }));

    await expect(applyMigrations(db.url, { migrationsDir: dir })).rejects.toThrow(/migration 002_bad failed/);
    const failed = (await migrationRows(db.url)).find((r) => r.migration_name === "002_bad");
    expect(failed?.finished_at).toBeNull();
    expect(failed?.logs).toMatch(/no_such_function/);
    // The script ran as one implicit transaction: its first statement was rolled back with it.
    expect(await query(db.url, `SELECT to_regclass('half') IS NULL AS missing`)).toEqual([{ missing: true }]);
    expect(await migrationStatus(db.url, { migrationsDir: dir })).toContainEqual({
      name: "002_bad",
      state: "failed",
    });

    await expect(applyMigrations(db.url, { migrationsDir: dir })).rejects.toThrow(/002_bad failed earlier/);

    // What a person does after fixing it (like `prisma migrate resolve --rolled-back`): the fixed file applies.
    await query(
      db.url,
      `UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = '002_bad'`,
    );
    fs.writeFileSync(path.join(dir, "002_bad", "migration.sql"), "CREATE TABLE half (id int);");
    expect(await applyMigrations(db.url, { migrationsDir: dir })).toEqual(["002_bad"]);
    expect(await migrationStatus(db.url, { migrationsDir: dir })).toEqual([
      { name: "001_ok", state: "applied" },
      { name: "002_bad", state: "applied" },
    ]);
  });

  test("openDatabase with a URL migrates first and returns a working client", async () => {
    const db = await scratch();
    const database = await openDatabase({
      databaseUrl: db.url,
      dataDir: "unused",
      poolSize: 2,
      log: () => {},
    });
    try {
      expect(database.kind).toBe("postgres");
      const user = await database.prisma.user.create({
        data: { username: "pg-user", usernameKey: "pg-user", displayName: "PG" },
      });
      const count = await database.prisma.$transaction(async (tx) =>
        tx.user.count({ where: { id: user.id } }),
      );
      expect(count).toBe(1);
    } finally {
      await database.close();
    }
    expect(await migrationStatus(db.url)).toEqual(
      migrations.map((m) => ({ name: m.name, state: "applied" })),
    );
  });
});
