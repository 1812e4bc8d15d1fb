// The layering of src/ (DESIGN.md, "Layers"), checked in CI by `npm run lint:layers`.
// Imports go downward only:
//   server.ts, app/            listens; wires services; HTTP and WebSocket servers; no rules
//   features/*/*.schema.ts,    Pothos types and thin resolvers (schema/ holds the builder,
//   schema/                    the request context and the shared GraphQL plumbing)
//   features/<name>/           domain functions, jobs and rules of one feature
//   events/                    the spine: one log writer, announce after commit, reader, streams
//   core/                      config, db, errors, logging, metrics, Services, Actor, job queue port
// src/generated (Prisma client) may be imported from anywhere.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "No import cycles anywhere in src/.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "core-is-the-bottom",
      severity: "error",
      comment: "core/ imports nothing of ours but core/ and the generated client.",
      from: { path: "^src/core/" },
      to: { path: "^src/", pathNot: ["^src/core/", "^src/generated/"] },
    },
    {
      name: "events-on-core-only",
      severity: "error",
      comment: "The event spine knows no feature, schema or server.",
      from: { path: "^src/events/" },
      to: { path: "^src/", pathNot: ["^src/core/", "^src/events/", "^src/generated/"] },
    },
    {
      name: "domain-below-graphql",
      severity: "error",
      comment:
        "Domain functions and jobs take (services, actor, input): they never import the GraphQL schema, the request context or the servers.",
      from: { path: "^src/features/", pathNot: "\\.schema\\.ts$" },
      to: { path: ["^src/schema/", "^src/app/", "^src/server\\.ts$", "\\.schema\\.ts$"] },
    },
    {
      name: "schema-below-app",
      severity: "error",
      comment: "Schema files and GraphQL plumbing never import the servers.",
      from: { path: ["^src/schema/", "\\.schema\\.ts$"] },
      to: { path: ["^src/app/", "^src/server\\.ts$"] },
    },
    {
      name: "app-only-from-server",
      severity: "error",
      comment: "Only the entry point and tests start an app.",
      from: { path: "^src/", pathNot: ["^src/app/", "^src/server\\.ts$"] },
      to: { path: "^src/app/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^src/generated/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
