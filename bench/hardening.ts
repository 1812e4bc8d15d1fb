// Hardening overhead benchmark: `npm run bench:hardening`.
//
// Two server processes on one scratch PostgreSQL database, side by side in one run: one with every
// hardening measure on (GraphQL Armor limits, CSRF check, rate-limit-ready context, metrics, request
// ids and access logs, body limit), one with HARDENING=off (the benchmarking-only switch). Both in
// production mode. K clients send a simple authenticated query (`{ me { id } }`) as fast as they can;
// rounds alternate between the two so drift hits both alike, and the best round of each counts.
// Target: hardened / plain throughput >= 0.8. Prints the figures and PASS/FAIL; exits 0 either way.
// Sizes: BENCH_CLIENTS (default 8), BENCH_REQUESTS per client per round (default 500), BENCH_ROUNDS (3).
import { GraphQLClient, signUp } from "./graphql.ts";
import { createScratchDatabase, type ScratchDatabase } from "./scratch-db.ts";
import { type ServerProcess, startServerProcess } from "./server-process.ts";
import { envInt, fmt, median, percentile, table } from "./stats.ts";

const CLIENTS = envInt("BENCH_CLIENTS", 8);
const REQUESTS = envInt("BENCH_REQUESTS", 500);
const ROUNDS = envInt("BENCH_ROUNDS", 3);
const WARMUP = 200;
const TARGET = 0.8;
const QUERY = "query Me { me { id } }";

type Side = "hardened" | "plain";
type Run = { side: Side; round: number; perSecond: number; p50: number; p95: number };

async function measure(side: Side, round: number, client: GraphQLClient, requests: number): Promise<Run> {
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let i = 0; i < requests; i++) {
        const s = performance.now();
        await client.request(QUERY);
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return {
    side,
    round,
    perSecond: (CLIENTS * requests) / seconds,
    p50: median(latencies),
    p95: percentile(latencies, 95),
  };
}

async function main(): Promise<void> {
  let scratch: ScratchDatabase | undefined;
  const servers: ServerProcess[] = [];
  try {
    scratch = await createScratchDatabase("bench_hardening");
    const common = {
      NODE_ENV: "production",
      DATABASE_URL: scratch.url,
      JWT_SECRET: "bench-jwt-secret-0123456789abcdef0123456789",
      LOG_LEVEL: "info",
    };
    // The hardened one starts first and migrates the scratch database; the plain one finds it ready.
    const hardened = await startServerProcess({ ...common });
    servers.push(hardened);
    const plain = await startServerProcess({ ...common, HARDENING: "off" });
    servers.push(plain);
    const user = await signUp(new GraphQLClient(hardened.url), `bench_${Date.now()}`);
    const clients: Record<Side, GraphQLClient> = {
      hardened: new GraphQLClient(hardened.url, user.token),
      plain: new GraphQLClient(plain.url, user.token),
    };
    for (const side of ["hardened", "plain"] as const)
      await measure(side, 0, clients[side], WARMUP / CLIENTS);

    const runs: Run[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const order: Side[] = round % 2 ? ["hardened", "plain"] : ["plain", "hardened"];
      for (const side of order) {
        const run = await measure(side, round, clients[side], REQUESTS);
        runs.push(run);
        console.log(`[bench] round ${round} ${side}: ${fmt(run.perSecond, 0)} req/s`);
      }
    }
    const best = (side: Side) => Math.max(...runs.filter((r) => r.side === side).map((r) => r.perSecond));
    console.log(
      `\n${table(
        ["run", "req/s", "p50 ms", "p95 ms"],
        runs.map((r) => [`${r.side} #${r.round}`, fmt(r.perSecond, 0), fmt(r.p50), fmt(r.p95)]),
      )}`,
    );
    const ratio = best("hardened") / best("plain");
    console.log(
      `\n{ me { id } } with ${CLIENTS} clients: hardened ${fmt(best("hardened"), 0)} req/s, plain ${fmt(best("plain"), 0)} req/s`,
    );
    console.log(
      `hardened / plain = ${fmt(ratio)} (target >= ${TARGET}): ${ratio >= TARGET ? "PASS" : "FAIL"}`,
    );
  } finally {
    for (const s of servers) await s.stop().catch(() => {});
    await scratch?.drop().catch((e) => console.error(`dropping the scratch database failed: ${e}`));
  }
}

await main();
