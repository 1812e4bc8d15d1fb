// Opens the database the server runs on: PostgreSQL when DATABASE_URL is set, otherwise an embedded
// PGlite stored under DATA_DIR. Both get pending migrations applied before the client is handed out,
// and both are used through the same generated Prisma client.
import fs from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import lockfile from "proper-lockfile";
import { PrismaClient } from "../generated/prisma/client.ts";
import { applyMigrations } from "./migrations.ts";

export type DatabaseKind = "postgres" | "pglite";

/** Plain SQL for libraries that bring their own (pg-boss): `{ rows }` as node-postgres answers. */
export type SqlExecutor = {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
};

export type Database = {
  prisma: PrismaClient;
  kind: DatabaseKind;
  /** For PostgreSQL, the URL (libraries open their own pool); for PGlite, its single connection. */
  url: string | undefined;
  sql: SqlExecutor;
  /** Disconnects Prisma, then ends the pool / closes PGlite and releases the data directory lock. */
  close(): Promise<void>;
};

export type DatabaseConfig = {
  /** postgresql:// URL; when unset the embedded database under dataDir is used. */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** Pool size for PostgreSQL; defaults to env DATABASE_POOL_SIZE, else 10. */
  poolSize?: number;
  /** Where migration progress goes; defaults to console.log. */
  log?: (message: string) => void;
};

// Prisma's defaults (maxWait 2 s, timeout 5 s) are tight for PGlite, where every transaction waits for
// the single connection, and for a loaded pool. Ten seconds still fails a stuck transaction quickly.
const TRANSACTION_OPTIONS = { maxWait: 10_000, timeout: 10_000 } as const;

/** PostgreSQL ends a session idle in a transaction this long (longer than any transaction's timeout). */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;

export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  const log = config.log ?? ((message: string) => console.log(message));
  return config.databaseUrl
    ? openPostgres(config.databaseUrl, config.poolSize ?? poolSizeFromEnv(), log)
    : openPGlite(config.dataDir, log);
}

function poolSizeFromEnv(): number {
  const raw = process.env.DATABASE_POOL_SIZE;
  if (raw === undefined || raw === "") return 10;
  const size = Number(raw);
  if (!Number.isInteger(size) || size < 1)
    throw new Error(`DATABASE_POOL_SIZE must be a positive integer, got "${raw}"`);
  return size;
}

async function openPostgres(
  url: string,
  poolSize: number,
  log: (message: string) => void,
): Promise<Database> {
  // Migrations first, on their own connection holding the advisory lock: instances starting together
  // apply them once, and nobody queries a half-migrated schema.
  await applyMigrations(url, { log });
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // A session left idle inside a transaction (a stuck caller) is ended by the server, releasing
    // its locks and, for an event-log writer, the log's horizon that every subscriber waits on.
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
    // An unreachable server fails a connection attempt instead of hanging the request (answered
    // UNAVAILABLE, see core/errors.ts).
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  // An idle client losing its connection emits 'error' on the pool; unhandled, that would crash the process.
  const adapter = new PrismaPg(pool, {
    onPoolError: (error) => console.error(`database pool error: ${error.message}`),
  });
  const prisma = new PrismaClient({ adapter, transactionOptions: TRANSACTION_OPTIONS });
  return {
    prisma,
    kind: "postgres",
    url,
    sql: { executeSql: async (text, values) => ({ rows: (await pool.query(text, values)).rows }) },
    close: once(async () => {
      try {
        await prisma.$disconnect();
      } finally {
        await pool.end(); // the adapter does not end a pool it was given (disposeExternalPool: false)
      }
    }),
  };
}

async function openPGlite(dataDir: string, log: (message: string) => void): Promise<Database> {
  const dir = path.resolve(dataDir, "pglite");
  fs.mkdirSync(dir, { recursive: true });
  // PGlite does nothing to stop a second process opening the same directory, and two writers lose
  // committed rows. proper-lockfile creates `<dir>.lock` atomically (mkdir) and keeps its mtime fresh;
  // a lock left by a crashed process is taken over once stale (10 s). If the lock is ever compromised
  // (another process took it over), proper-lockfile's default is to throw, ending this process: safer
  // than two writers on one directory.
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(dir);
  } catch (error) {
    if (error instanceof Error && "code" in error && error.code === "ELOCKED") {
      throw new Error(`data directory ${dir} is in use by another process (lock ${dir}.lock)`, {
        cause: error,
      });
    }
    throw error;
  }
  let pglite: PGlite | undefined;
  try {
    pglite = await PGlite.create(dir);
    await applyMigrations(pglite, { log });
  } catch (error) {
    await pglite?.close().catch(() => {});
    await release();
    throw error;
  }
  const db = pglite;
  // One connection: code must use only `tx` inside prisma.$transaction(async (tx) => ...); touching the
  // outer client there waits for the connection the transaction holds, until the timeout.
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(db), transactionOptions: TRANSACTION_OPTIONS });
  return {
    prisma,
    kind: "pglite",
    url: undefined,
    // PGlite runs one statement at a time through its own queue, so this interleaves safely with
    // Prisma outside a transaction. Parameterless text may hold several statements (pg-boss's
    // schema plans): those go through exec, which answers one result per statement.
    sql: {
      executeSql: async (text, values) => {
        if (values && values.length > 0) return { rows: (await db.query(text, values)).rows };
        const results = await db.exec(text);
        return { rows: results.at(-1)?.rows ?? [] };
      },
    },
    close: once(async () => {
      try {
        await prisma.$disconnect();
        await db.close();
      } finally {
        await release();
      }
    }),
  };
}

/** close() may be called from several shutdown paths; only the first does the work. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= fn();
    return done;
  };
}
