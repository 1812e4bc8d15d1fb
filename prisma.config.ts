import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  // Only read by the native schema engine (prisma migrate/db), which is not installed here;
  // scripts/migrate.ts reads DATABASE_URL itself.
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://localhost/unused" },
});
