// Real processes for fault-injection tests: a private redis-server and the app as its own process
// (src/server.ts, as `npm start` runs it). Every process is ended by its pid, never by name, and
// `killAll()` ends whatever a test left running.
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { within } from "./wait.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** A child process started by a test: its pid, output so far, and how it ended. */
export type Proc = {
  readonly pid: number;
  readonly child: ChildProcess;
  /** stdout and stderr so far (for diagnostics and "printed X" checks). */
  output(): string;
  readonly exited: Promise<Exit>;
  readonly running: boolean;
  /** Sends `signal` to this pid (no-op when it already exited). */
  signal(signal: NodeJS.Signals): void;
  /** SIGKILLs the pid and waits (bounded) for the exit. */
  kill(): Promise<Exit>;
};

const live = new Set<Proc>();

/** Ends every process the tests of this file started and that still runs (SIGKILL, by pid). */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill()));
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error("no port"))));
    });
  });
}

function track(child: ChildProcess, name: string): Proc {
  if (child.pid === undefined) throw new Error(`${name} did not start`);
  const pid = child.pid;
  let out = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  let running = true;
  const exited = new Promise<Exit>((resolve) => {
    child.once("exit", (code, signal) => {
      running = false;
      live.delete(proc);
      resolve({ code, signal });
    });
  });
  const proc: Proc = {
    pid,
    child,
    output: () => out,
    exited,
    get running() {
      return running;
    },
    signal(signal) {
      if (running) process.kill(pid, signal);
    },
    async kill() {
      proc.signal("SIGKILL");
      return within(exited, 10_000, `${name} (pid ${pid}) to exit after SIGKILL`);
    },
  };
  live.add(proc);
  return proc;
}

/** Resolves when the output matches `pattern` (with the match); rejects on exit or after `timeoutMs`. */
function awaitOutput(proc: Proc, pattern: RegExp, name: string, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const onData = () => {
      const match = pattern.exec(proc.output());
      if (!match) return;
      cleanup();
      resolve(match);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${name} not ready after ${timeoutMs} ms:\n${proc.output()}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      proc.child.stdout?.off("data", onData);
      proc.child.stderr?.off("data", onData);
    };
    proc.child.stdout?.on("data", onData);
    proc.child.stderr?.on("data", onData);
    void proc.exited.then((exit) => {
      cleanup();
      reject(new Error(`${name} exited (${JSON.stringify(exit)}) before it was ready:\n${proc.output()}`));
    });
    onData();
  });
}

export type RedisProc = Proc & { port: number; url: string };

/**
 * A private, memory-only redis-server on 127.0.0.1:`port` (a free one by default). Restart it on the
 * same port by calling this again with that port after the previous one exited.
 */
export async function startRedis(port?: number): Promise<RedisProc> {
  const chosen = port ?? (await freePort());
  const child = spawn(
    "redis-server",
    ["--port", String(chosen), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const proc = track(child, `redis-server :${chosen}`);
  try {
    await awaitOutput(proc, /Ready to accept connections/, `redis-server :${chosen}`, 10_000);
  } catch (error) {
    await proc.kill();
    throw error;
  }
  return Object.assign(proc, { port: chosen, url: `redis://127.0.0.1:${chosen}` });
}

export type ServerProc = Proc & { url: string };

/**
 * The app as its own process: `node --import tsx src/server.ts` with exactly `env` (plus PATH and
 * HOME), PORT=0 and HOST=127.0.0.1. Resolves with the URL it printed ("messaging API ready at ...").
 */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProc> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      PORT: "0",
      HOST: "127.0.0.1",
      NODE_ENV: "test",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const proc = track(child, "server process");
  let url: string;
  try {
    const match = await awaitOutput(proc, /messaging API ready at (http:\/\/\S+)/, "server process", 30_000);
    url = match[1] ?? "";
  } catch (error) {
    await proc.kill();
    throw error;
  }
  return Object.assign(proc, { url });
}
