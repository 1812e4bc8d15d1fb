// The event log has one writer (src/events/writer.ts) and one SQL statement that appends for speed
// (the send_message function of the migrations, documented there and in the writer). Any other
// place that inserts into "Event" would bypass announcing after commit: this test reads the tree.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..");

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (name === "generated" || name === "node_modules") return [];
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

describe("the event log's one writer", () => {
  it("is the only TypeScript code that inserts into Event", () => {
    const writers = filesUnder(path.join(ROOT, "src"))
      .filter((f) => f.endsWith(".ts"))
      .filter((f) => /INSERT\s+INTO\s+"Event"|\.event\.(create|createMany)\(/.test(readFileSync(f, "utf8")))
      .map((f) => path.relative(ROOT, f));
    expect(writers).toEqual(["src/events/writer.ts"]);
  });

  it("has send_message as the only SQL that appends events, and no other migration function does", () => {
    const migrations = filesUnder(path.join(ROOT, "prisma", "migrations")).filter((f) => f.endsWith(".sql"));
    const sql = migrations
      .filter((f) => /INSERT\s+INTO\s+"Event"/.test(readFileSync(f, "utf8")))
      .map((f) => path.basename(path.dirname(f)));
    // Created once, redefined once (it registers as a log writer, *_event_log_writers).
    expect(sql).toEqual([
      expect.stringMatching(/_send_message_function$/),
      expect.stringMatching(/_event_log_writers$/),
    ]);
    // Every function these migrations define that appends is send_message itself.
    for (const file of migrations) {
      const text = readFileSync(file, "utf8");
      const functions = text.split(/CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+/).slice(1);
      for (const body of functions) {
        if (/INSERT\s+INTO\s+"Event"/.test(body)) expect(body).toMatch(/^send_message\(/);
      }
    }
  });
});
