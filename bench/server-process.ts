import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

export type ServerProcess = { url: string; pid: number; stop(): Promise<void> };

/**
 * Starts the server as its own process, as `npm start` runs it in production. The load generator
 * then does not share the server's event loop: the server gets a core of its own, as the raw-SQL
 * floor's database work does.
 */
export async function startServerProcess(
  env: Record<string, string>,
  /** The entry file, relative to the project root: the app by default, or a benchmark floor server. */
  entry = "src/server.ts",
): Promise<ServerProcess> {
  // BENCH_PROFILE=dir writes a V8 CPU profile of the server there (open it in Chrome DevTools).
  const profile = process.env.BENCH_PROFILE
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
    : [];
  const child: ChildProcess = spawn(process.execPath, [...profile, "--import", "tsx", entry], {
    cwd: root,
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start in 60 s:\n${out}`)), 60_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /ready at (http:\/\/\S+)/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        // Stop collecting: the server's request log keeps coming, and scanning an ever longer
        // string for every chunk would spend the load generator's CPU (it shares the machine).
        child.stdout?.off("data", onData);
        resolve(match[1]);
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready:\n${out}`));
    });
  });
  child.stdout?.resume();
  return {
    url,
    pid: child.pid ?? -1,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
      }),
  };
}
