// The realtime load harness of bench/realtime.ts, shared by the real server and the floor server:
// a fleet of graphql-ws subscribers (one WebSocket per subscriber, one messageEvents subscription
// each), and an open-loop sender that fires sendMessage over HTTP at a fixed rate and accounts for
// every expected delivery: latency, lost, duplicated, unexpected.
import fs from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";
import { median, percentile } from "./stats.ts";

export const MESSAGE_EVENTS =
  "subscription MessageEvents { messageEvents { kind seq cursor message { id content } } }";
const SEND = `mutation SendIn($conversationId: ID!, $content: String!) {
  sendMessage(conversationId: $conversationId, content: $content) { id seq }
}`;

/** A user as the load sees it: the token it presents to this server, and its groups (indexes). */
export type LoadUser = { id: string; token: string; groups: number[] };
export type LoadGroup = { id: string; members: number[] };

export type FleetSpec = {
  /** GraphQL HTTP endpoints of the server instances; ws URLs are derived (same port and path). */
  instances: string[];
  users: LoadUser[];
  groups: LoadGroup[];
  /** WebSocket connections per user ("devices"), each with one subscription; device d uses instance d % n. */
  devicesPerUser: number;
  /** How many connections may be opening at once. */
  openConcurrency?: number;
};

type Subscriber = {
  index: number;
  user: number;
  instance: number;
  client: Client;
  /** Message ids seen on this subscription: a second sighting is a duplicate. */
  seen: Set<string>;
  /** Warm-up ("ready") markers received, per group index. */
  ready: Set<number>;
};

type SendRecord = {
  group: number;
  instance: number;
  sender: number;
  t0: number;
  ok: boolean;
  /** When the sendMessage answer arrived. */
  answeredAt: number;
};

/** One timed run's ledger; events carry the run's tag in their content, so runs never mix. */
type Run = {
  tag: string;
  sends: SendRecord[];
  /** send index -> subscribers that received it (first time). */
  received: Map<number, Set<number>>;
  latencies: number[];
  sameInstance: number[];
  crossInstance: number[];
  duplicated: number;
  unexpected: number;
  lastReceipt: number;
  start: number;
  /** Latencies by the second of the run their message was sent in. */
  bySecond: number[][];
  /** [send index, receipt time] of every counted delivery. */
  receipts: [number, number][];
};

/** What one timed run recorded; `summarize` pools several (rounds) into the reported figures. */
export type RawRun = {
  sends: number;
  sendErrors: number;
  sendLatencies: number[];
  /** Largest delay of a send behind its schedule (load generator health). */
  maxScheduleLagMs: number;
  /** p99 of this process's event-loop delay during the run: receipts are stamped this late at worst. */
  loopDelayP99Ms: number;
  expected: number;
  delivered: number;
  duplicated: number;
  unexpected: number;
  latencies: number[];
  sameInstance: number[];
  crossInstance: number[];
  /** First send to last receipt. */
  seconds: number;
  /** p99 latency of the messages sent in each second of the run. */
  p99BySecond: number[];
  /** Receipt minus the sendMessage answer, per delivery (negative: the event beat the answer). */
  afterAnswer: number[];
  /** Raw timings for further analysis: [t0, answeredAt] per send, [send index, receipt] per delivery. */
  sendTimes: [number, number][];
  receipts: [number, number][];
  subscriptionErrors: number;
};

export type LoadResult = {
  sends: number;
  sendErrors: number;
  sendP50: number;
  sendP99: number;
  maxScheduleLagMs: number;
  loopDelayP99Ms: number;
  expected: number;
  delivered: number;
  lost: number;
  duplicated: number;
  unexpected: number;
  p50: number;
  p99: number;
  max: number;
  sameInstanceP99: number;
  crossInstanceP99: number;
  /** Deliveries still to come when the sender got its answer: p50 and p99 of receipt - answer. */
  afterAnswerP50: number;
  afterAnswerP99: number;
  /** Deliveries over the runs' time from first send to last receipt. */
  deliveriesPerSecond: number;
  subscriptionErrors: number;
};

const maxOf = (values: readonly number[]) =>
  values.length ? values.reduce((m, v) => Math.max(m, v), Number.NEGATIVE_INFINITY) : Number.NaN;
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/** Pools runs: counts add up, percentiles are over every sample of every run. */
export function summarize(runs: readonly RawRun[]): LoadResult {
  const all = (pick: (r: RawRun) => number[]) => runs.flatMap(pick);
  const latencies = all((r) => r.latencies);
  const expected = sum(runs.map((r) => r.expected));
  const delivered = sum(runs.map((r) => r.delivered));
  const seconds = sum(runs.map((r) => r.seconds));
  return {
    sends: sum(runs.map((r) => r.sends)),
    sendErrors: sum(runs.map((r) => r.sendErrors)),
    sendP50: median(all((r) => r.sendLatencies)),
    sendP99: percentile(
      all((r) => r.sendLatencies),
      99,
    ),
    maxScheduleLagMs: maxOf(runs.map((r) => r.maxScheduleLagMs)),
    loopDelayP99Ms: maxOf(runs.map((r) => r.loopDelayP99Ms)),
    expected,
    delivered,
    lost: expected - delivered,
    duplicated: sum(runs.map((r) => r.duplicated)),
    unexpected: sum(runs.map((r) => r.unexpected)),
    p50: median(latencies),
    p99: percentile(latencies, 99),
    max: maxOf(latencies),
    sameInstanceP99: percentile(
      all((r) => r.sameInstance),
      99,
    ),
    crossInstanceP99: percentile(
      all((r) => r.crossInstance),
      99,
    ),
    afterAnswerP50: median(all((r) => r.afterAnswer)),
    afterAnswerP99: percentile(
      all((r) => r.afterAnswer),
      99,
    ),
    deliveriesPerSecond: seconds > 0 ? latencies.length / seconds : Number.NaN,
    subscriptionErrors: sum(runs.map((r) => r.subscriptionErrors)),
  };
}

export const wsUrl = (httpUrl: string) => httpUrl.replace(/^http/, "ws");

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Soft limit on open files of this process, from /proc (Linux); Infinity when unknown. */
export function openFileLimit(): number {
  try {
    const line = fs
      .readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === "unlimited" ? Number.POSITIVE_INFINITY : Number(soft);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

export class Fleet {
  readonly subscribers: Subscriber[] = [];
  private readonly runs = new Map<string, Run>();
  private readonly waiters = new Set<() => void>();
  subscriptionErrors = 0;
  readonly errorSamples: string[] = [];
  private closed = false;

  private constructor(private readonly spec: FleetSpec) {}

  /** Opens every connection and subscribes; resolves once every socket is acknowledged. */
  static async open(spec: FleetSpec): Promise<Fleet> {
    const fleet = new Fleet(spec);
    const plan: { user: number; instance: number }[] = [];
    for (let device = 0; device < spec.devicesPerUser; device++) {
      for (let user = 0; user < spec.users.length; user++) {
        plan.push({ user, instance: device % spec.instances.length });
      }
    }
    const concurrency = spec.openConcurrency ?? 200;
    for (let i = 0; i < plan.length; i += concurrency) {
      await Promise.all(plan.slice(i, i + concurrency).map((p) => fleet.connect(p.user, p.instance)));
    }
    return fleet;
  }

  get size(): number {
    return this.subscribers.length;
  }

  private connect(user: number, instance: number): Promise<void> {
    const url = this.spec.instances[instance];
    const token = this.spec.users[user]?.token;
    if (!url || !token) throw new Error("bad fleet plan");
    const client = createClient({
      url: wsUrl(url),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      lazy: true,
      retryAttempts: 0,
    });
    const sub: Subscriber = {
      index: this.subscribers.length,
      user,
      instance,
      client,
      seen: new Set(),
      ready: new Set(),
    };
    this.subscribers.push(sub);
    const connected = new Promise<void>((resolve, reject) => {
      const offConnected = client.on("connected", () => {
        offConnected();
        offClosed();
        resolve();
      });
      const offClosed = client.on("closed", (event) => {
        offConnected();
        offClosed();
        reject(new Error(`WebSocket closed before it was acknowledged: ${describe(event)}`));
      });
    });
    client.subscribe<{ messageEvents: { message: { id: string; content: string | null } } }>(
      { query: MESSAGE_EVENTS },
      {
        next: (result) => {
          const at = performance.now();
          const message = result.data?.messageEvents.message;
          if (!message) return this.failed(`payload without data: ${JSON.stringify(result).slice(0, 300)}`);
          this.onMessage(sub, message.id, message.content ?? "", at);
        },
        error: (error) => this.failed(describe(error)),
        complete: () => {
          if (!this.closed) this.failed("subscription completed by the server");
        },
      },
    );
    return connected;
  }

  private failed(what: string): void {
    this.subscriptionErrors++;
    if (this.errorSamples.length < 5) this.errorSamples.push(what);
  }

  private onMessage(sub: Subscriber, id: string, content: string, at: number): void {
    const [kind, tag, a, b] = content.split(" ");
    if (kind === "ready") {
      sub.ready.add(Number(tag));
      this.notify();
      return;
    }
    if (kind !== "rt" || tag === undefined) return;
    const run = this.runs.get(tag);
    if (!run) return;
    if (sub.seen.has(id)) {
      run.duplicated++;
      return;
    }
    sub.seen.add(id);
    const index = Number(a);
    const t0 = Number(b);
    const send = run.sends[index];
    const got = run.received.get(index) ?? new Set<number>();
    if (!send || !this.spec.users[sub.user]?.groups.includes(send.group) || got.has(sub.index)) {
      run.unexpected++;
      return;
    }
    got.add(sub.index);
    run.received.set(index, got);
    const latency = at - t0;
    run.latencies.push(latency);
    const second = Math.max(0, Math.floor((t0 - run.start) / 1000));
    const bucket = run.bySecond[second] ?? [];
    bucket.push(latency);
    run.bySecond[second] = bucket;
    run.receipts.push([index, at]);
    (send.instance === sub.instance ? run.sameInstance : run.crossInstance).push(latency);
    run.lastReceipt = Math.max(run.lastReceipt, at);
    this.notify();
  }

  private notify(): void {
    for (const waiter of this.waiters) waiter();
  }

  /** Resolves when `done()` holds (checked on every delivery), or with false after `timeoutMs`. */
  private until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (done()) return resolve(true);
      let pending = false;
      const check = () => {
        // Deliveries come in bursts; check at most once per macrotask.
        if (pending) return;
        pending = true;
        setImmediate(() => {
          pending = false;
          if (!done()) return;
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(true);
        });
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(done());
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /**
   * graphql-ws has no "subscribed" acknowledgement: sends one marker message into every group and
   * waits until every subscription has received its groups' markers, so each stream is live.
   */
  async ready(round: number, timeoutMs: number): Promise<void> {
    const { groups, users } = this.spec;
    const allReady = () =>
      this.subscribers.every((s) => (users[s.user]?.groups ?? []).every((g) => s.ready.has(g)));
    // graphql-ws does not acknowledge a subscribe, and a subscription without a cursor starts at the
    // log head: a marker committed before the server registered it is history, not news. So markers
    // go out again every second until every subscription has seen one of its groups' markers.
    const deadline = performance.now() + timeoutMs;
    let ok = false;
    while (!ok && performance.now() < deadline) {
      await Promise.all(
        groups.map((group, g) => {
          const sender = users[group.members[0] ?? -1];
          const url = this.spec.instances[g % this.spec.instances.length];
          if (!sender || !url) throw new Error("empty group");
          return sendMessage(url, sender.token, group.id, `ready ${g} ${round}`);
        }),
      );
      ok = await this.until(allReady, Math.min(1_000, Math.max(0, deadline - performance.now())));
    }
    for (const s of this.subscribers) s.ready.clear();
    if (!ok) {
      const missing = this.subscribers.filter(
        (s) => !(users[s.user]?.groups ?? []).every((g) => s.ready.has(g)),
      );
      throw new Error(
        `${missing.length} of ${this.size} subscriptions never received the marker message within ${timeoutMs} ms` +
          (this.errorSamples.length ? `; errors: ${this.errorSamples.join(" | ")}` : ""),
      );
    }
  }

  /**
   * Open loop: send i is fired at start + i / rate whether or not earlier ones have answered, into
   * group i mod G, by member (i div G) mod size, through instance (i + i div G) mod N (so every
   * group is sent to through every instance). Then waits for every expected delivery, at most
   * `graceMs` after the last send answered; what is still missing then is lost.
   */
  async run(tag: string, ratePerSecond: number, seconds: number, graceMs: number): Promise<RawRun> {
    const { groups, users, instances } = this.spec;
    const run: Run = {
      tag,
      sends: [],
      received: new Map(),
      latencies: [],
      sameInstance: [],
      crossInstance: [],
      duplicated: 0,
      unexpected: 0,
      lastReceipt: 0,
      start: performance.now(),
      bySecond: [],
      receipts: [],
    };
    this.runs.set(tag, run);
    const errorsBefore = this.subscriptionErrors;
    const total = Math.round(ratePerSecond * seconds);
    const interval = 1000 / ratePerSecond;
    const sendLatencies: number[] = [];
    const inFlight: Promise<void>[] = [];
    let sendErrors = 0;
    let maxLag = 0;
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    const start = performance.now();
    run.start = start;
    for (let i = 0; i < total; i++) {
      const due = start + i * interval;
      const wait = due - performance.now();
      if (wait >= 1) await sleep(wait);
      maxLag = Math.max(maxLag, performance.now() - due);
      const g = i % groups.length;
      const group = groups[g] as LoadGroup;
      const sender = group.members[Math.floor(i / groups.length) % group.members.length] as number;
      const instance = (i + Math.floor(i / groups.length)) % instances.length;
      const record: SendRecord = {
        group: g,
        instance,
        sender,
        t0: performance.now(),
        ok: false,
        answeredAt: Number.NaN,
      };
      run.sends.push(record);
      inFlight.push(
        sendMessage(
          instances[instance] as string,
          (users[sender] as LoadUser).token,
          group.id,
          `rt ${tag} ${i} ${record.t0.toFixed(3)}`,
        ).then(
          () => {
            record.ok = true;
            record.answeredAt = performance.now();
            sendLatencies.push(record.answeredAt - record.t0);
          },
          (error: unknown) => {
            sendErrors++;
            if (this.errorSamples.length < 5) this.errorSamples.push(`send: ${describe(error)}`);
          },
        ),
      );
    }
    await Promise.all(inFlight);

    const subscribersOf = groups.map((_, g) =>
      this.subscribers.filter((s) => users[s.user]?.groups.includes(g)).map((s) => s.index),
    );
    const expectedCount = run.sends.reduce(
      (n, s) => n + (s.ok ? (subscribersOf[s.group]?.length ?? 0) : 0),
      0,
    );
    const deliveredOk = () => {
      let n = 0;
      for (const [i, got] of run.received) if (run.sends[i]?.ok) n += got.size;
      return n;
    };
    await this.until(() => deliveredOk() >= expectedCount, graceMs);
    loopDelay.disable();
    this.runs.delete(tag);

    return {
      sends: total,
      sendErrors,
      sendLatencies,
      maxScheduleLagMs: maxLag,
      loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
      expected: expectedCount,
      delivered: deliveredOk(),
      duplicated: run.duplicated,
      unexpected: run.unexpected,
      latencies: run.latencies,
      sameInstance: run.sameInstance,
      crossInstance: run.crossInstance,
      seconds: (Math.max(run.lastReceipt, start) - start) / 1000,
      p99BySecond: Array.from(run.bySecond, (samples) => percentile(samples ?? [], 99)),
      sendTimes: run.sends.map((x) => [x.t0, x.answeredAt]),
      receipts: run.receipts,
      afterAnswer: run.receipts.flatMap(([i, at]) => {
        const answered = run.sends[i]?.answeredAt ?? Number.NaN;
        return Number.isFinite(answered) ? [at - answered] : [];
      }),
      subscriptionErrors: this.subscriptionErrors - errorsBefore,
    };
  }

  /** Closes every connection (1000, normal closure) and waits a moment for the frames to go out. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.subscribers.map((s) => s.client.dispose()));
  }
}

export async function sendMessage(url: string, token: string, conversationId: string, content: string) {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json",
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query: SEND, variables: { conversationId, content } }),
  });
  const body = (await res.json()) as { data?: unknown; errors?: unknown[] };
  if (body.errors?.length || !body.data) {
    throw new Error(
      `sendMessage failed (HTTP ${res.status}): ${JSON.stringify(body.errors ?? body).slice(0, 300)}`,
    );
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error && typeof error === "object" && "code" in error) {
    const e = error as { code: unknown; reason?: unknown };
    return `close ${String(e.code)} ${String(e.reason ?? "")}`;
  }
  return JSON.stringify(error)?.slice(0, 300) ?? String(error);
}
