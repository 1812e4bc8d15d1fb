import { buildApp } from "./app/app.ts";
import { type Config, ConfigError, loadConfig } from "./core/config.ts";

// The only file that listens: reads config, starts the app, stops cleanly on SIGTERM/SIGINT.
let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  // One line per bad variable, no stack trace: this is the operator's typo, not our bug.
  console.error(error.message);
  process.exit(1);
}
const app = await buildApp(config);
const url = await app.start();
console.log(
  `messaging API ready at ${url} (${app.db.kind === "pglite" ? `embedded database in ${config.dataDir}` : "PostgreSQL"})`,
);

let shuttingDown = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (shuttingDown) return;
    shuttingDown = true;
    console.log(`${signal}: shutting down`);
    const deadline = setTimeout(() => process.exit(1), 10_000);
    deadline.unref();
    app.stop().then(
      () => process.exit(0),
      (error) => {
        console.error("shutdown failed", error);
        process.exit(1);
      },
    );
  });
}
