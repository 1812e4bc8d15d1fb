// Realtime benchmark: `npm run bench:realtime`.
//
// Three measurements, all against servers running as their own processes on this machine:
//  1. Fan-out in the deployment shape: two instances of the real server (scratch PostgreSQL database,
//     Redis pub/sub between them). 250 users in 50 groups of 5; every user has 4 "devices", each one
//     WebSocket (graphql-ws) with one `messageEvents` subscription: 1,000 sockets, 1,000 subscriptions,
//     devices 0 and 2 of every user on instance A, 1 and 3 on instance B. Senders fire sendMessage
//     over HTTP at a fixed rate (open loop: 100/s, 20 s in all, as 4 rounds of 5 s), round-robin over
//     the groups, by each member in turn, through the two instances by turns for each group. The
//     content carries the run tag, the send's index and its timestamp (taken just before the request).
//     Expected deliveries per send: every subscription of the group's 5 members = 20, the sender's own
//     4 devices included: messageEvents reports every message of the viewer's conversations, own ones
//     too (multi-device sync; the sending device gets its echo), so those deliveries are owed as much
//     as anyone's. Latency = receipt of the event - just before the sendMessage request. Lost = expected
//     but not received within the grace period after the last send answered; duplicated = the same
//     message id twice on one subscription; unexpected = an event on a subscription of a non-member.
//  2. The floor: bench/floor-server.ts (graphql-yoga + graphql-ws + yoga's in-memory createPubSub, no
//     database) under the same load shape (same users, groups, devices, rate, duration). It runs as ONE
//     process: an in-memory pub/sub does not cross processes, so all 1,000 sockets and all sends go to
//     it. Both fleets stay open and the rounds alternate (ours, floor, ours, floor, ...), so a burst
//     of other load on the machine or drift hits both sides alike; figures pool every round.
//     Target: 0 lost, 0 duplicated, p99(ours) <= 3 x p99(floor).
//  3. Memory per idle connection: a fresh single instance of the real server, 10,000 idle graphql-ws
//     connections (500 users x 20, users via upsertUser with the API key: no password hashing), one
//     messageEvents subscription each, every one proven live by a delivered message; the server's
//     VmRSS before and after (after a settle wait). Target: < 100 KB per connection. This process and
//     the server each need one file descriptor per connection: with an open-file limit below ~10,300
//     the count is scaled down to fit, and the report says so (nothing system-wide is raised).
// It prints PASS/FAIL per target and exits 0 either way: it is a benchmark, not a test. The scratch
// database is dropped at the end, on failure and on Ctrl-C (BENCH_DATABASE_ADMIN_URL picks the cluster).
// Sizes can be changed: RT_USERS, RT_GROUP_SIZE, RT_DEVICES, RT_RATE, RT_SECONDS (per side, split over
// RT_ROUNDS), RT_ROUNDS, RT_GRACE_MS, RT_IDLE_USERS, RT_IDLE_DEVICES. On a 2-core machine everything
// (PostgreSQL, Redis, all server processes and this load generator) shares the cores: the CPU rows say
// who used what, including other processes on the machine, which skew latencies (both sides alike).
import fs from "node:fs";
import os from "node:os";
import pg from "pg";
import { type BenchUser, createGroup, GraphQLClient } from "./graphql.ts";
import {
  Fleet,
  type LoadGroup,
  type LoadResult,
  type LoadUser,
  openFileLimit,
  type RawRun,
  summarize,
} from "./realtime-load.ts";
import { createScratchDatabase, type ScratchDatabase } from "./scratch-db.ts";
import { type ServerProcess, startServerProcess } from "./server-process.ts";
import { envInt, fmt, machineTicks, table } from "./stats.ts";

const S = {
  users: envInt("RT_USERS", 250),
  groupSize: envInt("RT_GROUP_SIZE", 5),
  devices: envInt("RT_DEVICES", 4),
  rate: envInt("RT_RATE", 100),
  seconds: envInt("RT_SECONDS", 20),
  rounds: envInt("RT_ROUNDS", 4),
  warmupSeconds: 2,
  graceMs: envInt("RT_GRACE_MS", 10_000),
  idleUsers: envInt("RT_IDLE_USERS", 500),
  idleDevices: envInt("RT_IDLE_DEVICES", 20),
  idleSettleMs: 5_000,
};
const P99_RATIO_MAX = 3;
const BYTES_PER_CONNECTION_MAX = 100 * 1024;
const API_KEY = "bench-api-key-0123456789abcdef";
const JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

const started = performance.now();
const log = (message: string) =>
  console.log(`[rt ${fmt((performance.now() - started) / 1000, 1)}s] ${message}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------
// Process and machine meters
// ---------------------------------------------------------------------------------------------------

/** CPU time of a process in ms (utime + stime, 100 ticks a second). */
function cpuMsOf(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

type CpuReport = { servers: number[]; generator: number; machine: number; others: number };

/** CPU ms of every process on the machine, by pid (a process gone since is simply missing). */
function allProcessesCpu(): Map<number, number> {
  const out = new Map<number, number>();
  let entries: string[] = [];
  try {
    entries = fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return out;
  }
  for (const entry of entries) {
    const ms = cpuMsOf(Number(entry));
    if (Number.isFinite(ms)) out.set(Number(entry), ms);
  }
  return out;
}

/**
 * Ours: our processes, our database's backends (their process titles name it), and PostgreSQL's
 * shared helpers (WAL writer, checkpointer, ...: not client backends), which our load keeps busy too.
 */
function isOurs(pid: number, ours: Set<number>, database: string): boolean {
  if (ours.has(pid)) return true;
  try {
    const title = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (title.includes(database)) return true;
    return title.startsWith("postgres:") && !/\(\d+\)|\[local\]/.test(title);
  } catch {
    return false;
  }
}

/**
 * CPU used while a run lasts: each server process and this one as % of a core, the machine as % of
 * all cores, and every process that is neither ours nor our database's backends (other work on the
 * machine, which skews latencies) as % of a core.
 */
function cpuMeter(pids: number[], database: string): () => CpuReport {
  const t0 = performance.now();
  const s0 = pids.map(cpuMsOf);
  const p0 = process.cpuUsage();
  const m0 = machineTicks();
  const all0 = allProcessesCpu();
  return () => {
    const wall = performance.now() - t0;
    const p = process.cpuUsage(p0);
    const m1 = machineTicks();
    const ours = new Set([...pids, process.pid, process.ppid]);
    let others = 0;
    for (const [pid, ms] of allProcessesCpu()) {
      if (!isOurs(pid, ours, database)) others += ms - (all0.get(pid) ?? 0);
    }
    return {
      servers: pids.map((pid, i) => (100 * (cpuMsOf(pid) - (s0[i] ?? 0))) / wall),
      generator: (100 * (p.user + p.system)) / 1000 / wall,
      machine: m0 && m1 ? 100 * (1 - (m1.idle - m0.idle) / (m1.total - m0.total)) : Number.NaN,
      others: (100 * others) / wall,
    };
  };
}

/** Resident set size of a process in bytes (VmRSS in /proc/<pid>/status). */
function rssOf(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match?.[1]) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/** RSS after a settle wait: the median of a few readings a second apart. */
async function settledRss(pid: number, settleMs: number): Promise<number> {
  await sleep(settleMs);
  const readings: number[] = [];
  for (let i = 0; i < 3; i++) {
    readings.push(rssOf(pid));
    if (i < 2) await sleep(1_000);
  }
  return readings.sort((a, b) => a - b)[1] ?? Number.NaN;
}

const mib = (bytes: number) => `${fmt(bytes / 1024 / 1024, 1)} MiB`;

// ---------------------------------------------------------------------------------------------------
// Setup through the API
// ---------------------------------------------------------------------------------------------------

const UPSERT_USER = `mutation UpsertUser($externalId: String!, $username: String!, $displayName: String!) {
  upsertUser(externalId: $externalId, username: $username, displayName: $displayName) { token user { id username } }
}`;

/** Creates users through upsertUser with the system API key: a token each, no password hashing. */
async function upsertUsers(url: string, names: string[]): Promise<BenchUser[]> {
  const one = async (name: string): Promise<BenchUser> => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", "x-api-key": API_KEY },
      body: JSON.stringify({
        query: UPSERT_USER,
        variables: { externalId: `ext-${name}`, username: name, displayName: name },
      }),
    });
    const body = (await res.json()) as {
      data?: { upsertUser: { token: string; user: { id: string; username: string } } };
      errors?: unknown[];
    };
    if (!body.data || body.errors?.length)
      throw new Error(`upsertUser failed: ${JSON.stringify(body.errors)}`);
    const { token, user } = body.data.upsertUser;
    return { id: user.id, username: user.username, token, client: new GraphQLClient(url, token) };
  };
  const users: BenchUser[] = [];
  for (let i = 0; i < names.length; i += 16)
    users.push(...(await Promise.all(names.slice(i, i + 16).map(one))));
  return users;
}

type World = { users: BenchUser[]; groups: { id: string; members: number[] }[] };

/** Users in consecutive groups of `groupSize`; the first member of each group creates it. */
async function buildWorld(url: string, prefix: string, userCount: number, groupSize: number): Promise<World> {
  const users = await upsertUsers(
    url,
    Array.from({ length: userCount }, (_, i) => `${prefix}_${i}`),
  );
  const groups: World["groups"] = [];
  for (let g = 0; g * groupSize < userCount; g += 8) {
    const batch = Array.from({ length: Math.min(8, Math.ceil(userCount / groupSize) - g) }, (_, k) => g + k);
    const ids = await Promise.all(
      batch.map((k) => {
        const members = users.slice(k * groupSize, (k + 1) * groupSize);
        const [owner, ...rest] = members as [BenchUser, ...BenchUser[]];
        return createGroup(owner, `${prefix} group ${k}`, rest);
      }),
    );
    for (const [i, id] of ids.entries()) {
      const k = batch[i] as number;
      const members = Array.from({ length: groupSize }, (_, j) => k * groupSize + j).filter(
        (u) => u < userCount,
      );
      groups.push({ id, members });
    }
  }
  return { users, groups };
}

const loadUsers = (world: World, token: (u: BenchUser) => string): LoadUser[] =>
  world.users.map((u, i) => ({
    id: u.id,
    token: token(u),
    groups: world.groups.flatMap((g, k) => (g.members.includes(i) ? [k] : [])),
  }));

// ---------------------------------------------------------------------------------------------------
// Phases
// ---------------------------------------------------------------------------------------------------

type Side = {
  label: "ours" | "floor";
  instances: ServerProcess[];
  fleet: Fleet;
  runs: RawRun[];
  /** CPU per measured round. */
  cpu: CpuReport[];
  warmupSends: number;
};

/** Opens a side's sockets, proves every subscription live, and warms both ends up. */
async function openSide(
  label: Side["label"],
  instances: ServerProcess[],
  users: LoadUser[],
  groups: LoadGroup[],
  track: (fleet: Fleet) => void,
): Promise<Side> {
  const t0 = performance.now();
  const fleet = await Fleet.open({
    instances: instances.map((i) => i.url),
    users,
    groups,
    devicesPerUser: S.devices,
  });
  track(fleet);
  log(`${label}: ${fleet.size} sockets open in ${fmt((performance.now() - t0) / 1000, 1)} s`);
  await fleet.ready(1, 60_000);
  log(`${label}: every subscription live (marker message received on all ${fleet.size})`);
  return { label, instances, fleet, runs: [], cpu: [], warmupSends: 0 };
}

/** Load at the full rate, not counted: JIT, pools and caches of both ends warm up. */
async function warmUp(side: Side): Promise<void> {
  const warm = await side.fleet.run("warm", S.rate, S.warmupSeconds, S.graceMs);
  side.warmupSends = warm.sends;
  log(
    `${side.label}: warm-up ${S.warmupSeconds} s: ${warm.delivered}/${warm.expected} delivered (not counted)`,
  );
}

async function measureRound(side: Side, round: number, seconds: number, database: string): Promise<void> {
  const cpu = cpuMeter(
    side.instances.map((i) => i.pid),
    database,
  );
  const run = await side.fleet.run(`r${round}`, S.rate, seconds, S.graceMs);
  side.runs.push(run);
  side.cpu.push(cpu());
  const r = summarize([run]);
  log(
    `${side.label.padEnd(5)} round ${round}: ${r.delivered}/${r.expected} delivered, p50 ${fmt(r.p50)} ms, ` +
      `p99 ${fmt(r.p99)} ms, max ${fmt(r.max)} ms; other processes on the machine ${fmt(side.cpu.at(-1)?.others ?? Number.NaN, 0)}% of a core`,
  );
  log(`      p99 by second sent, ms: ${run.p99BySecond.map((v) => fmt(v, 0)).join(" ")}`);
}

const meanCpu = (reports: CpuReport[]): CpuReport => {
  const avg = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  return {
    servers: (reports[0]?.servers ?? []).map((_, i) => avg(reports.map((r) => r.servers[i] ?? Number.NaN))),
    generator: avg(reports.map((r) => r.generator)),
    machine: avg(reports.map((r) => r.machine)),
    others: avg(reports.map((r) => r.others)),
  };
};

type FanOut = { result: LoadResult; rounds: LoadResult[]; cpu: CpuReport; dbTransactionsPerSend?: number };

const fanOutOf = (side: Side): FanOut => ({
  result: summarize(side.runs),
  rounds: side.runs.map((r) => summarize([r])),
  cpu: meanCpu(side.cpu),
});

type Memory = {
  connections: number;
  users: number;
  before: number;
  after: number;
  afterClose: number;
  perConnection: number;
  openSeconds: number;
  scaledNote: string;
};

async function idleMemory(
  server: ServerProcess,
  world: World,
  track: (fleet: Fleet) => void,
): Promise<Memory> {
  const users = loadUsers(world, (u) => u.token);
  // Fds: this process holds one per client socket, the server one per accepted socket (same limit).
  const limit = openFileLimit();
  let devices = S.idleDevices;
  let scaledNote = "";
  if (users.length * devices > limit - 300) {
    devices = Math.max(1, Math.floor((limit - 300) / users.length));
    scaledNote = ` (scaled down from ${users.length * S.idleDevices}: open-file limit ${limit} here and for the server)`;
  }

  // Warm the code paths (ws upgrade, graphql-ws, subscribe, delivery) with 100 connections first, so
  // the baseline holds the compiled code and lazily loaded modules, not the per-connection cost.
  const warmGroups = world.groups.slice(0, Math.min(20, world.groups.length));
  const warmUsers = users.map((u) => ({ ...u, groups: u.groups.filter((g) => g < warmGroups.length) }));
  // Groups hold consecutive users, so the first 20 groups' members are exactly users 0..99 and the
  // groups' member indexes stay valid in this shorter list.
  const inWarm = warmUsers.filter((u) => u.groups.length > 0);
  const warmFleet = await Fleet.open({
    instances: [server.url],
    users: inWarm,
    groups: warmGroups,
    devicesPerUser: 1,
  });
  track(warmFleet);
  await warmFleet.ready(1, 30_000);
  await warmFleet.close();
  const before = await settledRss(server.pid, 3_000);
  log(`memory: baseline RSS ${mib(before)} (after a 100-connection warm-up, closed)`);

  const t0 = performance.now();
  const fleet = await Fleet.open({
    instances: [server.url],
    users,
    groups: world.groups,
    devicesPerUser: devices,
    openConcurrency: 250,
  });
  track(fleet);
  const openSeconds = (performance.now() - t0) / 1000;
  log(`memory: ${fleet.size} sockets open in ${fmt(openSeconds, 1)} s`);
  await fleet.ready(1, 120_000);
  log(`memory: every subscription live (marker message received on all ${fleet.size})`);
  const after = await settledRss(server.pid, S.idleSettleMs);
  log(`memory: RSS with ${fleet.size} idle connections ${mib(after)}`);
  if (fleet.subscriptionErrors) log(`memory: errors seen: ${fleet.errorSamples.join(" | ")}`);
  const connections = fleet.size;
  await fleet.close();
  const afterClose = await settledRss(server.pid, 3_000);
  return {
    connections,
    users: users.length,
    before,
    after,
    afterClose,
    perConnection: (after - before) / connections,
    openSeconds,
    scaledNote,
  };
}

/** Transactions committed in the database so far (pg_stat_database; flushed when backends exit). */
async function committed(pool: pg.Pool, name: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    "SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = $1",
    [name],
  );
  return Number(rows[0]?.n ?? Number.NaN);
}

// ---------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let scratch: ScratchDatabase | undefined;
  const servers = new Set<ServerProcess>();
  const fleets = new Set<Fleet>();
  let statsPool: pg.Pool | undefined;
  const track = (fleet: Fleet) => fleets.add(fleet);
  const stop = async (server: ServerProcess | undefined) => {
    if (!server) return;
    servers.delete(server);
    await server.stop().catch((e) => console.error(`stopping a server failed: ${e}`));
  };
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= (async () => {
      await Promise.allSettled([...fleets].map((f) => f.close()));
      await Promise.allSettled([...servers].map((s) => stop(s)));
      await statsPool?.end().catch(() => {});
      await scratch?.drop().catch((e) => console.error(`dropping ${scratch?.name} failed: ${e}`));
    })();
    return cleaning;
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the servers and dropping the scratch database`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  const serverEnv = (url: string) => ({
    NODE_ENV: "production",
    DATABASE_URL: url,
    REDIS_URL,
    JWT_SECRET,
    API_KEY,
    // A load generator is one IP and a few users sending as fast as they can: lift the rate limits.
    RATE_LIMIT_SEND_PER_SECOND: "1000000",
    RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: "1000000",
    RATE_LIMIT_WS_CONNECTIONS_PER_MINUTE: "1000000",
    WS_MAX_SUBSCRIPTIONS_PER_SOCKET: "1000000",
  });

  try {
    scratch = await createScratchDatabase("rtbench");
    log(
      `scratch database ${scratch.name}; open-file limit ${openFileLimit()}; ${os.availableParallelism()} cores`,
    );
    statsPool = new pg.Pool({ connectionString: scratch.url, max: 1 });
    statsPool.on("error", () => {});

    // --- 1. ours: two instances, Redis between them; 2. the floor: one process ---------------------
    // One after the other: the first applies the migrations.
    const a = await startServerProcess(serverEnv(scratch.url));
    servers.add(a);
    const b = await startServerProcess(serverEnv(scratch.url));
    servers.add(b);
    log(`instances A ${a.url} (pid ${a.pid}) and B ${b.url} (pid ${b.pid}), Redis ${REDIS_URL}`);
    const floor = await startServerProcess({ NODE_ENV: "production" }, "bench/floor-server.ts");
    servers.add(floor);
    log(`floor server ${floor.url} (pid ${floor.pid})`);

    const world = await buildWorld(a.url, "rt", S.users, S.groupSize);
    log(`${world.users.length} users (upsertUser), ${world.groups.length} groups of ${S.groupSize}`);
    const groups: LoadGroup[] = world.groups;
    const floorAdmin = new GraphQLClient(floor.url);
    for (const g of world.groups) {
      await floorAdmin.request("mutation G($id: ID!, $m: [ID!]!) { createGroup(id: $id, memberIds: $m) }", {
        id: g.id,
        m: g.members.map((i) => world.users[i]?.id),
      });
    }

    const ours = await openSide(
      "ours",
      [a, b],
      loadUsers(world, (u) => u.token),
      groups,
      track,
    );
    const floorSide = await openSide(
      "floor",
      [floor],
      loadUsers(world, (u) => u.id),
      groups,
      track,
    );

    // Transactions per send, from pg_stat_database: a backend that went idle flushes its counts within
    // 10 s (PGSTAT_IDLE_INTERVAL), one that exits at once. So the count starts after 10.5 s of quiet
    // (before the warm-up, whose sends it then includes) and ends once both instances have stopped.
    await sleep(10_500);
    const xact0 = await committed(statsPool, scratch.name);
    await warmUp(ours);
    await warmUp(floorSide);

    // Short rounds in strict alternation: neither side idles long (the app's pg pool closes
    // connections idle for 10 s, which a steady 100 sends/s never lets happen), and load from
    // elsewhere on the machine falls on both sides alike.
    const perRound = S.seconds / S.rounds;
    for (let round = 1; round <= S.rounds; round++) {
      for (const side of [ours, floorSide]) await measureRound(side, round, perRound, scratch.name);
    }
    for (const side of [ours, floorSide]) {
      if (side.fleet.errorSamples.length)
        log(`${side.label}: errors seen: ${side.fleet.errorSamples.join(" | ")}`);
      await side.fleet.close();
    }
    await stop(floor);
    await stop(a);
    await stop(b);
    await sleep(500);
    const xact1 = await committed(statsPool, scratch.name);
    const oursResult = fanOutOf(ours);
    oursResult.dbTransactionsPerSend = (xact1 - xact0) / (oursResult.result.sends + ours.warmupSends);
    const floorResult = fanOutOf(floorSide);

    // --- 3. memory per idle connection: one fresh instance ----------------------------------------
    const c = await startServerProcess(serverEnv(scratch.url));
    servers.add(c);
    log(`memory: instance C ${c.url} (pid ${c.pid}), RSS at start ${mib(rssOf(c.pid))}`);
    const idleWorld = await buildWorld(c.url, "idle", S.idleUsers, S.groupSize);
    log(`memory: ${idleWorld.users.length} users (upsertUser), ${idleWorld.groups.length} groups`);
    const memory = await idleMemory(c, idleWorld, track);
    await stop(c);

    report(oursResult, floorResult, memory);
  } finally {
    await cleanup();
    log(`done in ${fmt((performance.now() - started) / 1000, 1)} s`);
  }
}

function report(ours: FanOut, floor: FanOut, memory: Memory): void {
  const o = ours.result;
  const f = floor.result;
  const subscribers = S.users * S.devices;
  console.log(
    `\nFan-out: ${S.users} users in ${Math.ceil(S.users / S.groupSize)} groups of ${S.groupSize}, ${S.devices} sockets per user ` +
      `(${subscribers} graphql-ws connections, one messageEvents subscription each); ${S.rate} sends/s for ${S.seconds} s ` +
      `(${S.rounds} alternating rounds of ${fmt(S.seconds / S.rounds, 0)} s per side, pooled), ` +
      `open loop; ${S.groupSize * S.devices} expected deliveries per send (sender's own devices included); grace ${S.graceMs / 1000} s`,
  );
  const rows: [string, (r: FanOut) => string][] = [
    ["server processes", (r) => (r === ours ? "2 (Redis pub/sub)" : "1 (in-memory pub/sub)")],
    ["sends (errors)", (r) => `${r.result.sends} (${r.result.sendErrors})`],
    ["sendMessage HTTP p50 / p99 ms", (r) => `${fmt(r.result.sendP50)} / ${fmt(r.result.sendP99)}`],
    ["expected deliveries", (r) => String(r.result.expected)],
    ["delivered", (r) => String(r.result.delivered)],
    ["lost", (r) => String(r.result.lost)],
    ["duplicated", (r) => String(r.result.duplicated)],
    ["unexpected (non-member)", (r) => String(r.result.unexpected)],
    ["subscription errors", (r) => String(r.result.subscriptionErrors)],
    ["latency p50 ms", (r) => fmt(r.result.p50)],
    ["latency p99 ms", (r) => fmt(r.result.p99)],
    ["latency p99 per round ms", (r) => r.rounds.map((x) => fmt(x.p99)).join(" / ")],
    ["latency max ms", (r) => fmt(r.result.max)],
    [
      "p99 same / other instance ms",
      (r) => (r === ours ? `${fmt(r.result.sameInstanceP99)} / ${fmt(r.result.crossInstanceP99)}` : "-"),
    ],
    [
      "receipt - sendMessage answer p50 / p99 ms",
      (r) => `${fmt(r.result.afterAnswerP50)} / ${fmt(r.result.afterAnswerP99)}`,
    ],
    ["deliveries/s (first send..last receipt)", (r) => fmt(r.result.deliveriesPerSecond, 0)],
    ["max send schedule lag ms", (r) => fmt(r.result.maxScheduleLagMs)],
    ["load generator loop delay p99 ms", (r) => fmt(r.result.loopDelayP99Ms)],
    ["server CPU, % of a core", (r) => r.cpu.servers.map((c) => fmt(c, 0)).join(" + ")],
    ["load generator CPU, % of a core", (r) => fmt(r.cpu.generator, 0)],
    [`machine CPU, % of ${os.availableParallelism()} cores`, (r) => fmt(r.cpu.machine, 0)],
    ["other processes' CPU (not ours), % of a core", (r) => fmt(r.cpu.others, 0)],
    [
      "≈ DB transactions per send",
      (r) => (r.dbTransactionsPerSend === undefined ? "-" : fmt(r.dbTransactionsPerSend, 1)),
    ],
  ];
  console.log(
    table(
      ["", "ours", "floor"],
      rows.map(([name, cell]) => [name, cell(ours), cell(floor)]),
    ),
  );

  console.log(
    `\nIdle connections: ${memory.connections} graphql-ws connections${memory.scaledNote} of ${memory.users} users, one messageEvents subscription each, against one instance`,
  );
  console.log(
    table(
      ["RSS", "value"],
      [
        ["before (warmed up, settled)", mib(memory.before)],
        [
          `with ${memory.connections} idle connections (settled ${S.idleSettleMs / 1000} s)`,
          mib(memory.after),
        ],
        ["after closing them all (settled 3 s)", mib(memory.afterClose)],
        ["per connection", `${fmt(memory.perConnection / 1024, 1)} KB`],
        ["time to open them", `${fmt(memory.openSeconds, 1)} s`],
      ],
    ),
  );

  const ratio = o.p99 / f.p99;
  const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");
  const lines = [
    `fan-out ours : ${o.delivered}/${o.expected} delivered, p50 ${fmt(o.p50)} ms, p99 ${fmt(o.p99)} ms, ${fmt(o.deliveriesPerSecond, 0)} deliveries/s`,
    `fan-out floor: ${f.delivered}/${f.expected} delivered, p50 ${fmt(f.p50)} ms, p99 ${fmt(f.p99)} ms, ${fmt(f.deliveriesPerSecond, 0)} deliveries/s`,
    `lost           ours ${o.lost} (floor ${f.lost})  target 0  ${verdict(o.lost === 0)}`,
    `duplicated     ours ${o.duplicated} (floor ${f.duplicated})  target 0  ${verdict(o.duplicated === 0)}`,
    `p99 ratio      ours/floor ${fmt(ratio)} (${fmt(o.p99)} / ${fmt(f.p99)} ms)  target <= ${P99_RATIO_MAX}  ${verdict(ratio <= P99_RATIO_MAX)}`,
    `idle memory    ${fmt(memory.perConnection / 1024, 1)} KB per connection over ${memory.connections} connections  target < ${BYTES_PER_CONNECTION_MAX / 1024} KB  ${verdict(memory.perConnection < BYTES_PER_CONNECTION_MAX)}`,
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
    console.error("realtime benchmark failed:", error);
    process.exit(1);
  },
);
