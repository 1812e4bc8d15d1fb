import { badInput } from "./errors.ts";

// Input rules in one place, so every operation rejects bad input the same way (BAD_USER_INPUT
// naming the field) before it writes anything.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Our ids are UUIDs; anything else cannot name a row (and must not reach a uuid column). */
export const isUuid = (value: string) => UUID.test(value);

export function cleanContent(content: string, maxLength: number, field = "content"): string {
  const value = content.trim();
  if (value.length === 0) throw badInput(field, `${field} must not be empty`);
  if (value.length > maxLength) throw badInput(field, `${field} must be at most ${maxLength} characters`);
  return value;
}

// Usernames cannot look like ids (no 36-character UUIDs fit the pattern), so "a user id or a
// username" arguments are unambiguous.
const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;

export function cleanUsername(username: string, field = "username"): string {
  const value = username.trim();
  if (!USERNAME.test(value)) {
    throw badInput(field, `${field} must be 3-32 characters of letters, digits, '_', '.' or '-'`);
  }
  return value;
}

export function cleanText(value: string, field: string, maxLength: number): string {
  const v = value.trim();
  if (v.length === 0) throw badInput(field, `${field} must not be empty`);
  if (v.length > maxLength) throw badInput(field, `${field} must be at most ${maxLength} characters`);
  return v;
}

export function cleanPassword(password: string, field = "password"): string {
  if (password.length < 8) throw badInput(field, `${field} must be at least 8 characters`);
  if (password.length > 256) throw badInput(field, `${field} must be at most 256 characters`);
  return password;
}

/** An optional client-chosen idempotency key. */
export function cleanClientMessageId(value: string | null | undefined): string | null {
  if (value == null) return null;
  const v = value.trim();
  if (v.length === 0 || v.length > 128) {
    throw badInput("clientMessageId", "clientMessageId must be 1-128 characters");
  }
  return v;
}

/** Longest URL any argument takes (browsers and proxies cope with far longer; links rarely need it). */
export const MAX_URL_LENGTH = 2000;

// Spaces, control characters and backslashes have no place in a URL as sent (they are
// percent-encoded); parsers disagree on them (WHATWG drops tabs and newlines, reads "\" as "/"),
// so a URL holding them could mean one thing here and another to the browser or client using it.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const UNSAFE_URL_CHARACTERS = /[\u0000-\u0020\u007f-\u009f\\]/;

/**
 * The one validator of every URL argument (actionUrl, avatarUrl, webhook url ...): an absolute
 * http:// or https:// URL with a host, or BAD_USER_INPUT on `field`. Returns it trimmed, otherwise
 * as given. `javascript:`, `data:`, `file:`, relative and protocol-relative URLs are refused.
 */
export function cleanHttpUrl(value: string, field: string): string {
  const v = value.trim();
  const invalid = () =>
    badInput(
      field,
      `${field} must be an absolute http:// or https:// URL of at most ${MAX_URL_LENGTH} characters`,
    );
  if (v.length === 0 || v.length > MAX_URL_LENGTH) throw invalid();
  if (!/^https?:\/\//i.test(v) || UNSAFE_URL_CHARACTERS.test(v)) throw invalid();
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw invalid();
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") throw invalid();
  return v;
}

const YEAR_MS = 366 * 24 * 60 * 60 * 1000;

/** A time in the future and at most a year away, or BAD_USER_INPUT on `field`. */
export function cleanScheduledAt(value: Date, field: string): Date {
  const t = value.getTime();
  if (Number.isNaN(t) || t <= Date.now()) throw badInput(field, `${field} must be in the future`);
  if (t > Date.now() + YEAR_MS) throw badInput(field, `${field} must be at most a year from now`);
  return value;
}

/** A list argument of at most `max` entries, or BAD_USER_INPUT on `field` (checked before any work). */
export function capList<T>(values: readonly T[], field: string, max: number, hint = ""): readonly T[] {
  if (values.length > max) {
    throw badInput(field, `${field} may name at most ${max} entries (got ${values.length})${hint}`);
  }
  return values;
}

/**
 * Nesting depth of a JSON value (a scalar is 0, `{}` and `[]` are 1), counted without recursion and
 * stopping as soon as it passes `max`: a deeply nested value can neither overflow the stack here nor
 * in the JSON.stringify that follows.
 */
function jsonDepthExceeds(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [v, depth] = item;
    if (v === null || typeof v !== "object") continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * A JSON object argument (`data` of notifications and broadcasts) within the configured caps: an
 * object, at most `maxDepth` levels deep and `maxBytes` bytes of JSON (UTF-8). `{}` when absent.
 * Checked before anything is written, since the value is stored (on every broadcast recipient).
 */
export function cleanJsonObject(
  value: unknown,
  field: string,
  caps: { dataBytes: number; dataDepth: number },
): Record<string, unknown> {
  if (value == null) return {};
  if (typeof value !== "object" || Array.isArray(value))
    throw badInput(field, `${field} must be a JSON object`);
  if (jsonDepthExceeds(value, caps.dataDepth)) {
    throw badInput(field, `${field} may nest objects and arrays at most ${caps.dataDepth} levels deep`);
  }
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > caps.dataBytes) {
    throw badInput(field, `${field} must be at most ${caps.dataBytes} bytes of JSON (got ${bytes})`);
  }
  return value as Record<string, unknown>;
}
