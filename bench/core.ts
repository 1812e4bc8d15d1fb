// Core performance benchmark: `npm run bench`.
//
// Two claims are measured against the real server (its own process, over HTTP, on a scratch PostgreSQL
// database):
//  1. Reads do not slow down with history: a viewer whose main direct chat holds 200,000 messages is
//     served `unread`, `chat(first: 50)` and `conversations(first: 20)` about as fast as one whose chat
//     holds 1,000 (target: median ratio 200k/1k <= 1.5).
//  2. sendMessage costs little beyond the database work it must do: API throughput is compared with a
//     raw-SQL floor doing the same writes (target: API/raw >= 0.5).
// It prints the numbers and PASS/FAIL per target and exits 0 either way: it is a benchmark, not a test.
// Sizes can be shrunk for a quick try: BENCH_LARGE, BENCH_SMALL, BENCH_SAMPLES, BENCH_WARMUP,
// BENCH_CLIENTS, BENCH_SENDS. BENCH_KEEP_DB=1 keeps the scratch database (and prints its URL) so slow
// queries can be EXPLAINed by hand afterwards; drop it yourself.
import fs from "node:fs";
import os from "node:os";
import pg from "pg";
import { type BenchUser, createGroup, GraphQLClient, sendIn, sendTo, signUpMany } from "./graphql.ts";
import { rawSend } from "./raw-send.ts";
import { createScratchDatabase, runCleanup, type ScratchDatabase } from "./scratch-db.ts";
import { checkConsistency, type HistorySpec, installHelpers, seedHistory } from "./seed.ts";
import { type ServerProcess, startServerProcess } from "./server-process.ts";
import { envInt, fmt, machineTicks, median, percentile, table } from "./stats.ts";

const SETTINGS = {
  smallHistory: envInt("BENCH_SMALL", 1_000),
  largeHistory: envInt("BENCH_LARGE", 200_000),
  warmup: envInt("BENCH_WARMUP", 30),
  samples: envInt("BENCH_SAMPLES", 200),
  clients: envInt("BENCH_CLIENTS", 8),
  sendsPerClient: envInt("BENCH_SENDS", 250),
  /** API and raw runs alternate this many times; the best of each counts, so warm-up biases neither. */
  rounds: 2,
};
/** "1k", "200k": scenario names follow the sizes, also when the sizes are overridden. */
const sizeLabel = (n: number) => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));
const SMALL = sizeLabel(SETTINGS.smallHistory);
const LARGE = sizeLabel(SETTINGS.largeHistory);
const READ_RATIO_MAX = 1.5;
const WRITE_RATIO_MIN = 0.5;

const started = performance.now();
const log = (message: string) =>
  console.log(`[bench ${fmt((performance.now() - started) / 1000, 1)}s] ${message}`);

// ---------------------------------------------------------------------------------------------------
// Read scenarios
// ---------------------------------------------------------------------------------------------------

type Scenario = {
  label: string;
  viewer: BenchUser;
  partner: BenchUser;
  /** Read back from the database after seeding, to check the API's answers against. */
  expected: { unread: number; chatTotal: number; newestTopLevelSeq: number; conversations: number };
};

const OTHER_DIRECTS = 9;
const GROUPS = 10;
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/**
 * One viewer's world: the main direct chat with `mainSize` messages, 9 more direct chats and 10 groups
 * of 3-4 members with a few dozen to a few hundred messages each. Users and conversations are created
 * through the API; the history is then bulk-seeded. Everything but the main chat's size is identical
 * between scenarios, so any latency difference is the history's.
 */
async function buildScenario(anonymous: GraphQLClient, db: pg.Pool, label: string, mainSize: number) {
  const names = ["viewer", "partner", ...Array.from({ length: OTHER_DIRECTS }, (_, i) => `d${i}`)];
  const users = await signUpMany(
    anonymous,
    names.map((n) => `s${label}_${n}`),
  );
  const [viewer, partner, ...others] = users as [BenchUser, BenchUser, ...BenchUser[]];
  const other = (i: number) => others[i % others.length] as BenchUser;
  const now = Date.now();
  const specs: HistorySpec[] = [];
  const viewerBehind = (n: number) => (userId: string) => (userId === viewer.id ? n : 0);

  const main = await sendTo(viewer, partner, "hi!");
  await sendTo(partner, viewer, "hello");
  specs.push({
    conversationId: main,
    memberIds: [viewer.id, partner.id],
    total: mainSize,
    endAt: new Date(now - MINUTE),
    stepMs: (30 * DAY) / mainSize,
    behind: viewerBehind(120),
  });

  for (let k = 0; k < OTHER_DIRECTS; k++) {
    const d = other(k);
    // Either side may have opened the chat; it must not matter, but both paths should be in the data.
    const id = k % 2 === 0 ? await sendTo(viewer, d, "hey") : await sendTo(d, viewer, "hey");
    const total = 20 + ((k * 37) % 180);
    specs.push({
      conversationId: id,
      memberIds: [viewer.id, d.id],
      total,
      endAt: new Date(now - (k + 1) * 53 * MINUTE),
      stepMs: (7 * DAY) / total,
      behind: (userId) => (userId === viewer.id ? ([0, 3, 10, 0, 25][k % 5] ?? 0) : (k % 3) * 4),
    });
  }

  for (let g = 0; g < GROUPS; g++) {
    const members = [other(g), other(g + 4), ...(g % 3 === 0 ? [other(g + 7)] : [])];
    // The viewer owns half the groups and is a plain member of the others.
    const owner = g % 2 === 0 ? viewer : (members[0] as BenchUser);
    const invited = [viewer, ...members].filter((u) => u.id !== owner.id);
    const id = await createGroup(owner, `${label} group ${g}`, invited);
    await sendIn(owner, id, "welcome");
    const total = 30 + ((g * 53) % 220);
    specs.push({
      conversationId: id,
      memberIds: [owner, ...invited].map((u) => u.id),
      total,
      endAt: new Date(now - ((g + 1) * 41 + 7) * MINUTE),
      stepMs: (7 * DAY) / total,
      behind: (userId) => (userId === viewer.id ? ([5, 0, 40, 0, 2][g % 5] ?? 0) : (g % 4) * 3),
    });
  }

  for (const spec of specs) await seedHistory(db, spec);

  const { rows } = await db.query<{
    unread: number;
    conversations: number;
    chat_total: number;
    newest: number;
  }>(
    `SELECT (SELECT COALESCE(sum("unreadCount"), 0)::int FROM "Membership" WHERE "userId" = $1 AND "leftAt" IS NULL) AS unread,
            (SELECT count(*)::int FROM "Membership" WHERE "userId" = $1 AND "leftAt" IS NULL) AS conversations,
            (SELECT "messageCount" FROM "Conversation" WHERE id = $2) AS chat_total,
            (SELECT max(seq) FROM "Message" WHERE "conversationId" = $2 AND "parentId" IS NULL) AS newest`,
    [viewer.id, main],
  );
  const row = rows[0];
  if (!row) throw new Error("expectations query returned nothing");
  const expected = {
    unread: row.unread,
    chatTotal: row.chat_total,
    newestTopLevelSeq: row.newest,
    conversations: row.conversations,
  };
  return { label, viewer, partner, expected } satisfies Scenario;
}

type ReadQuery = {
  name: string;
  query: string;
  variables: (s: Scenario) => Record<string, unknown>;
  /** Returns what is wrong with an answer, so a fast-but-wrong response cannot pass. */
  check: (data: unknown, s: Scenario) => string | null;
};

const READ_QUERIES: ReadQuery[] = [
  {
    name: "unread",
    query: "query Unread { unread }",
    variables: () => ({}),
    check: (data, s) => {
      const { unread } = data as { unread: number };
      return unread === s.expected.unread ? null : `unread ${unread}, expected ${s.expected.unread}`;
    },
  },
  {
    name: "chat(first: 50)",
    query: `query Chat($with: String!) {
      chat(with: $with, first: 50) { totalCount nodes { id seq content sender { username } } }
    }`,
    variables: (s) => ({ with: s.partner.id }),
    check: (data, s) => {
      const { chat } = data as { chat: { totalCount: number; nodes: { seq: number }[] } };
      if (chat.totalCount !== s.expected.chatTotal)
        return `totalCount ${chat.totalCount}, expected ${s.expected.chatTotal}`;
      if (chat.nodes.length !== 50) return `${chat.nodes.length} nodes, expected 50`;
      const newest = chat.nodes[0]?.seq;
      return newest === s.expected.newestTopLevelSeq
        ? null
        : `newest seq ${newest}, expected ${s.expected.newestTopLevelSeq}`;
    },
  },
  {
    name: "conversations(first: 20)",
    query: `query Conversations {
      conversations(first: 20) {
        totalCount
        nodes { id kind title unreadCount lastMessage { id content } members { id username } }
      }
    }`,
    variables: () => ({}),
    check: (data, s) => {
      const { conversations } = data as {
        conversations: { totalCount: number; nodes: { unreadCount: number }[] };
      };
      const want = s.expected.conversations;
      if (conversations.totalCount !== want)
        return `totalCount ${conversations.totalCount}, expected ${want}`;
      if (conversations.nodes.length !== Math.min(20, want)) return `${conversations.nodes.length} nodes`;
      const unread = conversations.nodes.reduce((sum, n) => sum + n.unreadCount, 0);
      return unread === s.expected.unread
        ? null
        : `sum of unreadCount ${unread}, expected ${s.expected.unread}`;
    },
  },
];

type ReadResult = { name: string; small: number[]; large: number[] };

/**
 * Sequential requests; each round runs every query for both scenarios, alternating which goes first,
 * so drift (GC, autovacuum, CPU frequency) hits both sides alike.
 */
async function measureReads(small: Scenario, large: Scenario): Promise<ReadResult[]> {
  const results = READ_QUERIES.map((q) => ({ name: q.name, small: [] as number[], large: [] as number[] }));
  for (let round = 0; round < SETTINGS.warmup + SETTINGS.samples; round++) {
    for (const [i, q] of READ_QUERIES.entries()) {
      const order = round % 2 === 0 ? [small, large] : [large, small];
      for (const s of order) {
        const t0 = performance.now();
        const data = await s.viewer.client.request(q.query, q.variables(s));
        const ms = performance.now() - t0;
        if (round === 0) {
          const problem = q.check(data, s);
          if (problem) throw new Error(`${q.name} for the ${s.label} viewer answered wrong: ${problem}`);
        }
        const result = results[i];
        if (round >= SETTINGS.warmup && result) (s === small ? result.small : result.large).push(ms);
      }
    }
  }
  return results;
}

/**
 * CPU used while a run lasts: this process (the load generator; the server runs apart) as % of one core, and the
 * whole machine (PostgreSQL included) as % of all cores, from /proc/stat where there is one. Tells a
 * CPU-bound server apart from one waiting on the database.
 */
/** The server process's CPU time in ms (utime + stime from /proc, 100 ticks a second). */
function serverCpuMs(): number {
  try {
    const fields = fs.readFileSync(`/proc/${serverPid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

let serverPid = -1;

function cpuMeter(): () => { processCorePct: number; serverCorePct: number; machinePct: number } {
  const machine = machineTicks;

  const m0 = machine();
  const p0 = process.cpuUsage();
  const s0 = serverCpuMs();
  const t0 = performance.now();
  return () => {
    const wallMs = performance.now() - t0;
    const p = process.cpuUsage(p0);
    const m1 = machine();
    return {
      processCorePct: (100 * (p.user + p.system)) / 1000 / wallMs,
      serverCorePct: (100 * (serverCpuMs() - s0)) / wallMs,
      machinePct: m0 && m1 ? 100 * (1 - (m1.idle - m0.idle) / (m1.total - m0.total)) : Number.NaN,
    };
  };
}

// ---------------------------------------------------------------------------------------------------
// Write throughput
// ---------------------------------------------------------------------------------------------------

/** A sender and the two users who receive (and count unread) what they send. */
type Crew = { sender: BenchUser; others: [BenchUser, BenchUser] };

type WriteRun = {
  side: "api" | "raw";
  round: number;
  perSecond: number;
  p50: number;
  p95: number;
  processCorePct: number;
  serverCorePct: number;
  machinePct: number;
};

/** Fresh groups per run: every run starts from the same state (empty conversations, zero counters). */
const freshGroups = (crews: Crew[], tag: string) =>
  Promise.all(crews.map((crew, k) => createGroup(crew.sender, `${tag} ${k}`, crew.others)));

/** K clients, each sending M messages one after another into its own group; messages per second. */
async function timedSends(
  side: WriteRun["side"],
  round: number,
  crews: Crew[],
  send: (crew: Crew, conversationId: string, content: string) => Promise<void>,
): Promise<WriteRun> {
  const groups = await freshGroups(crews, `${side} round ${round}`);
  const latencies: number[] = [];
  const cpu = cpuMeter();
  const t0 = performance.now();
  await Promise.all(
    crews.map(async (crew, k) => {
      const conversationId = groups[k] as string;
      for (let j = 0; j < SETTINGS.sendsPerClient; j++) {
        const s = performance.now();
        await send(crew, conversationId, `throughput message ${k}.${j}`);
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return {
    side,
    round,
    perSecond: (crews.length * SETTINGS.sendsPerClient) / seconds,
    p50: median(latencies),
    p95: percentile(latencies, 95),
    ...cpu(),
  };
}

async function measureWrites(anonymous: GraphQLClient, rawPool: pg.Pool): Promise<WriteRun[]> {
  const users = await signUpMany(
    anonymous,
    Array.from({ length: SETTINGS.clients * 3 }, (_, i) => `tp_${Math.floor(i / 3)}_${i % 3}`),
  );
  const crews: Crew[] = Array.from({ length: SETTINGS.clients }, (_, k) => {
    const [sender, a, b] = users.slice(k * 3, k * 3 + 3) as [BenchUser, BenchUser, BenchUser];
    return { sender, others: [a, b] };
  });
  // Open every raw connection up front; the app's pool has been in use since seeding.
  const warm = await Promise.all(Array.from({ length: SETTINGS.clients }, () => rawPool.connect()));
  for (const client of warm) client.release();

  const runs: WriteRun[] = [];
  for (let round = 1; round <= SETTINGS.rounds; round++) {
    runs.push(await timedSends("api", round, crews, (crew, id, content) => sendIn(crew.sender, id, content)));
    log(`sendMessage via API, round ${round}: ${fmt(runs.at(-1)?.perSecond ?? 0, 0)} msg/s`);
    runs.push(
      await timedSends("raw", round, crews, (crew, id, content) =>
        rawSend(rawPool, id, crew.sender.id, content),
      ),
    );
    log(`raw SQL floor, round ${round}: ${fmt(runs.at(-1)?.perSecond ?? 0, 0)} msg/s`);
  }
  return runs;
}

// ---------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------

function openPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  // pool.end() resolves before its sockets are closed, so the final DROP DATABASE ... WITH (FORCE) may
  // terminate a connection still closing (57P01). Unhandled, that 'error' event would crash the run.
  pool.on("error", (error: Error & { code?: string }) => {
    if (error.code !== "57P01") console.error(`database pool error: ${error.message}`);
  });
  return pool;
}

async function main(): Promise<void> {
  let scratch: ScratchDatabase | undefined;
  let app: ServerProcess | undefined;
  const pools: pg.Pool[] = [];
  // Ctrl-C must not leave a 200k-message database behind.
  const cleanup = runCleanup({
    scratch: () => scratch,
    stops: () => [() => app?.stop() ?? Promise.resolve(), ...pools.map((pool) => () => pool.end())],
    log,
  });

  try {
    scratch = await createScratchDatabase("bench");
    log(`scratch database ${scratch.name}`);
    // Production mode: dev-only checks (such as Pothos' onUnusedQuery) and GraphiQL are off.
    app = await startServerProcess({
      NODE_ENV: "production",
      DATABASE_URL: scratch.url,
      JWT_SECRET: "bench-jwt-secret-0123456789abcdef0123456789",
      API_KEY: "bench-api-key-0123456789abcdef",
      // A load generator is one IP and a few users sending as fast as they can: lift the rate limits.
      RATE_LIMIT_SEND_PER_SECOND: "1000000",
      RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: "1000000",
    });
    const url = app.url;
    serverPid = app.pid;
    log(
      `app listening at ${url} (app pool: ${process.env.DATABASE_POOL_SIZE ?? "10 (default)"} connections)`,
    );
    const anonymous = new GraphQLClient(url);

    const seedPool = openPool(scratch.url, 2);
    const rawPool = openPool(scratch.url, SETTINGS.clients);
    pools.push(seedPool, rawPool);
    await installHelpers(seedPool);

    const seedStart = performance.now();
    const small = await buildScenario(anonymous, seedPool, SMALL, SETTINGS.smallHistory);
    log(`seeded the ${SMALL} viewer (main chat ${SETTINGS.smallHistory} messages)`);
    const large = await buildScenario(anonymous, seedPool, LARGE, SETTINGS.largeHistory);
    log(`seeded the ${LARGE} viewer (main chat ${SETTINGS.largeHistory} messages)`);
    // A steady-state database has been vacuumed and analyzed by autovacuum; a fresh bulk load has not.
    await seedPool.query(`VACUUM (ANALYZE) "User", "Conversation", "Membership", "Message", "Event"`);
    const seedSeconds = (performance.now() - seedStart) / 1000;
    const seedProblems = await checkConsistency(seedPool);
    if (seedProblems.length) throw new Error(`seeded data is inconsistent:\n  ${seedProblems.join("\n  ")}`);
    log(`seeding done in ${fmt(seedSeconds, 1)} s; counters consistent`);
    for (const s of [small, large]) {
      const e = s.expected;
      log(
        `  ${s.label} viewer: ${e.conversations} conversations, unread ${e.unread}, main chat top-level ${e.chatTotal}`,
      );
    }

    const reads = await measureReads(small, large);
    log("read latency measured");
    const writes = await measureWrites(anonymous, rawPool);
    const writeProblems = await checkConsistency(seedPool);
    log(writeProblems.length ? "counters INCONSISTENT after sends" : "counters consistent after sends");

    report(reads, writes, writeProblems, seedSeconds);
  } finally {
    await cleanup();
    log(`done in ${fmt((performance.now() - started) / 1000, 1)} s`);
  }
}

function report(reads: ReadResult[], writes: WriteRun[], consistency: string[], seedSeconds: number): void {
  const S = SETTINGS;
  console.log(
    `\nRead latency, ms (${S.samples} sequential requests per cell after ${S.warmup} warm-up, interleaved)`,
  );
  const readRows = reads.map((r) => {
    const ratio = median(r.large) / median(r.small);
    return {
      r,
      ratio,
      cells: [
        r.name,
        fmt(median(r.small)),
        fmt(percentile(r.small, 95)),
        fmt(median(r.large)),
        fmt(percentile(r.large, 95)),
        fmt(ratio),
      ],
    };
  });
  console.log(
    table(
      [
        "query",
        `${SMALL} p50`,
        `${SMALL} p95`,
        `${LARGE} p50`,
        `${LARGE} p95`,
        `ratio ${LARGE}/${SMALL} p50`,
      ],
      readRows.map((row) => row.cells),
    ),
  );

  const total = S.clients * S.sendsPerClient;
  console.log(
    `\nsendMessage throughput (${S.clients} clients x ${S.sendsPerClient} sends = ${total} per run)`,
  );
  console.log(
    table(
      ["run", "msg/s", "send p50 ms", "send p95 ms", "load generator CPU", "server CPU", "machine CPU"],
      writes.map((w) => [
        `${w.side} #${w.round}`,
        fmt(w.perSecond, 0),
        fmt(w.p50),
        fmt(w.p95),
        `${fmt(w.processCorePct, 0)}% of a core`,
        w.side === "api" ? `${fmt(w.serverCorePct, 0)}% of a core` : "-",
        `${fmt(w.machinePct, 0)}% of ${os.availableParallelism()} cores`,
      ]),
    ),
  );
  const best = (side: WriteRun["side"]) =>
    Math.max(...writes.filter((w) => w.side === side).map((w) => w.perSecond));
  const api = best("api");
  const raw = best("raw");
  const writeRatio = api / raw;

  const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");
  const latency = (samples: number[]) =>
    `p50 ${fmt(median(samples)).padStart(6)} / p95 ${fmt(percentile(samples, 95)).padStart(6)} ms`;
  const lines = [
    `setup: ${SMALL} and ${LARGE} viewers seeded in ${fmt(seedSeconds, 1)} s; app pool ${process.env.DATABASE_POOL_SIZE ?? 10}, raw pool ${S.clients}`,
    ...readRows.map(
      ({ r, ratio }) =>
        `read  ${r.name.padEnd(25)} ${SMALL}: ${latency(r.small)}  ${LARGE}: ${latency(r.large)}` +
        `  ratio ${fmt(ratio)} (target <= ${READ_RATIO_MAX})  ${verdict(ratio <= READ_RATIO_MAX)}`,
    ),
    `write ${`sendMessage x${S.clients} clients`.padEnd(25)} API ${fmt(api, 0)} msg/s  raw floor ${fmt(raw, 0)} msg/s (best of ${S.rounds})` +
      `  ratio ${fmt(writeRatio)} (target >= ${WRITE_RATIO_MIN})  ${verdict(writeRatio >= WRITE_RATIO_MIN)}`,
    `data  counter consistency after all writes: ${consistency.length ? consistency.join("; ") : "all checks hold"}`,
  ];
  const width = Math.max(...lines.map((l) => l.length));
  const bar = "=".repeat(Math.max(0, Math.floor((width - 9) / 2)));
  console.log(`\n${bar} SUMMARY ${bar}`);
  for (const line of lines) console.log(line);
  console.log("=".repeat(bar.length * 2 + 9));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error("benchmark failed:", error);
    process.exit(1);
  },
);
