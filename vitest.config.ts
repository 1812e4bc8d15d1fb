import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

export default defineConfig({
  // graphql 16 ships both index.mjs (Vite's pick) and index.js (Node's pick for our dependencies);
  // two copies in one process break `instanceof` checks, so everything gets Node's copy.
  resolve: { alias: [{ find: /^graphql$/, replacement: require.resolve("graphql") }] },
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Forks rather than threads: PGlite's WASM instances and pg pools are cleanly torn down with the process.
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
