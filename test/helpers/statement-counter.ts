// Counts the SQL statements this process sends to PostgreSQL while a callback runs. The server
// under test runs in the test's process and reaches PostgreSQL through `pg` (src/db.ts: a pg.Pool
// handed to @prisma/adapter-pg; a pool's query runs on a pg.Client), so wrapping
// pg.Client.prototype.query sees every statement: Prisma's queries, raw SQL, BEGIN/COMMIT.
// Run nothing else against the database while counting: every call is counted.
import pg from "pg";

export type StatementLog = { count: number; statements: string[] };

function statementText(args: unknown[]): string {
  const first = args[0];
  if (typeof first === "string") return first;
  if (first && typeof first === "object" && "text" in first && typeof first.text === "string")
    return first.text;
  if (first && typeof first === "object" && "submit" in first) return "<submittable>";
  return String(first);
}

let active = false;

/** Only the event-log reader (src/events/log.ts readEvents/headPosition) asks for the horizon. */
const LOG_READER_MARK = "event_log_horizon()";
/**
 * The session check (src/features/users/sessions.ts) runs once per token per 2 s cache window, so
 * whether a measured request pays for it depends on the clock, not on the request: a warm-up that
 * ran 1.9 s earlier hides it, one that ran 2.1 s earlier does not. It is the same one statement
 * whatever the request reads, so it is left out of the count.
 */
const SESSION_CHECK_MARK = 'EXISTS (SELECT 1 FROM "RevokedToken" WHERE jti';

export async function countStatements<T>(fn: () => Promise<T>): Promise<{ result: T; log: StatementLog }> {
  if (active) throw new Error("countStatements does not nest");
  active = true;
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  const log: StatementLog = { count: 0, statements: [] };
  proto.query = function (this: unknown, ...args: unknown[]) {
    const text = statementText(args);
    // The instance's event-log reader runs in the background (it keeps retrying while another
    // test's transaction holds the horizon back); its reads are not the request's work.
    if (text.includes(LOG_READER_MARK) || text.includes(SESSION_CHECK_MARK))
      return original.apply(this, args);
    log.count += 1;
    log.statements.push(text.replace(/\s+/g, " ").slice(0, 300));
    return original.apply(this, args);
  };
  try {
    const result = await fn();
    return { result, log };
  } finally {
    proto.query = original;
    active = false;
  }
}
