// Applies prisma/migrations/*/migration.sql in order, the way `prisma migrate deploy` does. The native
// Prisma schema engine cannot be installed here, so we keep Prisma's own `_prisma_migrations` table
// format (checksum = sha256 of migration.sql) and the real CLI accepts this history later.
//
// Used at server start (src/db.ts), by scripts/migrate.ts and by the test global setup.
import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { PGlite } from "@electric-sql/pglite";
import pg from "pg";

/** prisma/migrations of this project, resolved from this file so the working directory does not matter. */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../../prisma/migrations/", import.meta.url));

/** Key Prisma Migrate itself takes with pg_advisory_lock, so our runner and the real CLI exclude each other. */
export const MIGRATION_ADVISORY_LOCK = 72707369;

/** A PostgreSQL connection URL, or an open embedded database. */
export type MigrationTarget = string | PGlite;

export type Migration = { name: string; sql: string; checksum: string };

export type MigrationOptions = {
  /** Defaults to MIGRATIONS_DIR; tests point it elsewhere. */
  migrationsDir?: string;
  /** Progress and warnings; defaults to silence so library callers decide what to print. */
  log?: (message: string) => void;
};

export type MigrationState = "applied" | "pending" | "failed" | "edited";
export type MigrationStatus = { name: string; state: MigrationState };

// Prisma's table, column for column (see prisma-engines, sql-schema-connector). Do not change.
const MIGRATIONS_TABLE_DDL = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

type MigrationRow = {
  id: string;
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
};

/** The few operations the runner needs, implemented over pg and over PGlite. */
type Session = {
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a multi-statement script with the simple-query protocol: PostgreSQL runs it as one implicit transaction. */
  script(sql: string): Promise<void>;
};

/** Reads the migrations directory in name order (names start with a UTC timestamp). */
export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, "migration.sql")))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      // Checksum over the raw bytes, exactly as Prisma computes it.
      const bytes = fs.readFileSync(path.join(dir, name, "migration.sql"));
      return {
        name,
        sql: bytes.toString("utf8"),
        checksum: createHash("sha256").update(bytes).digest("hex"),
      };
    });
}

/**
 * Applies every pending migration and returns the names applied (empty when up to date).
 * Throws, applying nothing, when the database has a failed migration or an applied migration whose
 * migration.sql was edited afterwards: both need a person to look at them.
 */
export async function applyMigrations(
  target: MigrationTarget,
  options: MigrationOptions = {},
): Promise<string[]> {
  const migrations = readMigrations(options.migrationsDir);
  const log = options.log ?? (() => {});
  return withSession(target, true, async (db) => {
    await db.query(MIGRATIONS_TABLE_DDL);
    const rows = await db.query<MigrationRow>(
      `SELECT id, migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at`,
    );
    const problems = checkHistory(rows, migrations);
    if (problems.length) throw new Error(`refusing to migrate:\n  ${problems.join("\n  ")}`);

    const done = new Set(rows.filter(isApplied).map((r) => r.migration_name));
    for (const name of done) {
      if (!migrations.some((m) => m.name === name)) {
        log(
          `warning: migration ${name} is applied in the database but missing from the migrations directory`,
        );
      }
    }
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.name)) continue;
      // Same sequence as Prisma: a row marks the start, the script runs, the row is finished. If the script
      // fails the row stays unfinished with the error in `logs`, and later runs refuse until it is resolved.
      const id = randomUUID();
      await db.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
         VALUES ($1, $2, $3, now(), 0)`,
        [id, m.checksum, m.name],
      );
      try {
        await db.script(m.sql);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        await db.query(`UPDATE "_prisma_migrations" SET logs = $1 WHERE id = $2`, [
          error instanceof Error && error.stack ? error.stack : message,
          id,
        ]);
        throw new Error(`migration ${m.name} failed: ${message}`, { cause: error });
      }
      await db.query(
        `UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`,
        [id],
      );
      log(`applied migration ${m.name}`);
      applied.push(m.name);
    }
    return applied;
  });
}

/** State of every migration in the directory, plus failed ones the directory no longer has. */
export async function migrationStatus(
  target: MigrationTarget,
  options: MigrationOptions = {},
): Promise<MigrationStatus[]> {
  const migrations = readMigrations(options.migrationsDir);
  const rows = await withSession(target, false, async (db) => {
    const [exists] = await db.query<{ present: boolean }>(
      `SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS present`,
    );
    if (!exists?.present) return [];
    return db.query<MigrationRow>(
      `SELECT id, migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at`,
    );
  });
  const live = rows.filter((r) => !r.rolled_back_at);
  const result: MigrationStatus[] = migrations.map((m) => {
    const row = live.find((r) => r.migration_name === m.name);
    const state: MigrationState = !row
      ? "pending"
      : !row.finished_at
        ? "failed"
        : row.checksum !== m.checksum
          ? "edited"
          : "applied";
    return { name: m.name, state };
  });
  for (const r of live) {
    if (!r.finished_at && !migrations.some((m) => m.name === r.migration_name)) {
      result.push({ name: r.migration_name, state: "failed" });
    }
  }
  return result;
}

const isApplied = (r: MigrationRow) => r.finished_at !== null && r.rolled_back_at === null;

function checkHistory(rows: MigrationRow[], migrations: Migration[]): string[] {
  const problems: string[] = [];
  for (const r of rows) {
    if (r.rolled_back_at) continue;
    if (!r.finished_at) {
      problems.push(
        `migration ${r.migration_name} failed earlier (see _prisma_migrations.logs); fix the database by hand, ` +
          `then mark it rolled back: UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE id = '${r.id}'`,
      );
      continue;
    }
    const m = migrations.find((x) => x.name === r.migration_name);
    if (m && m.checksum !== r.checksum) {
      problems.push(
        `migration ${r.migration_name} was edited after it was applied (checksum mismatch); ` +
          "restore the applied migration.sql and put changes in a new migration",
      );
    }
  }
  return problems;
}

// Runs on PGlite instances are serialized in-process: PGlite has one connection, so two interleaved
// runners would see each other's half-applied state (there is no second session to block on a lock).
const pgliteQueues = new WeakMap<PGlite, Promise<unknown>>();

async function withSession<T>(
  target: MigrationTarget,
  exclusive: boolean,
  fn: (db: Session) => Promise<T>,
): Promise<T> {
  if (typeof target !== "string") {
    const pglite = target;
    const session: Session = {
      query: async <R>(sql: string, params?: unknown[]) => (await pglite.query<R>(sql, params)).rows,
      script: async (sql) => {
        await pglite.exec(sql);
      },
    };
    if (!exclusive) return fn(session);
    const previous = pgliteQueues.get(pglite) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(() => fn(session));
    pgliteQueues.set(pglite, run);
    return run;
  }

  // One dedicated connection: the session-level advisory lock belongs to it, and is released when it ends
  // even if this process dies mid-migration.
  const client = new pg.Client({ connectionString: target });
  // A dropped connection also rejects the pending query, which is what reports it; without a listener the
  // 'error' event would crash the process instead.
  client.on("error", () => {});
  await client.connect();
  try {
    const session: Session = {
      query: async <R>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as R[],
      // No parameters => simple-query protocol, which accepts many statements in one call.
      script: async (sql) => {
        await client.query(sql);
      },
    };
    if (exclusive) await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_ADVISORY_LOCK]);
    return await fn(session);
  } finally {
    await client.end();
  }
}
