// Prints the schema from the code to schema.graphql (sorted), or with --check fails when the
// checked-in file differs: CI runs the check so the file never goes stale.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { printSchema } from "graphql";
import { schema } from "../src/schema/index.ts";

const file = fileURLToPath(new URL("../schema.graphql", import.meta.url));
const printed = `${printSchema(schema)}\n`;

if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(file, "utf8");
  } catch {
    // missing file: reported below as stale
  }
  if (current !== printed) {
    console.error("schema.graphql is stale: run `npm run schema:print` and commit it.");
    process.exit(1);
  }
  console.log("schema.graphql is up to date");
} else {
  writeFileSync(file, printed);
  console.log(`wrote ${file}`);
}
