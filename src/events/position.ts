import { badInput } from "../core/errors.ts";
import type { PositionJson } from "../core/pubsub.ts";

/**
 * A place in the event log. Events are read in (txid, id) order and only below the log's horizon
 * (the oldest registered log writer still running, see log.ts), so once a reader has passed a
 * position no event can still commit behind it: a position is a gap-free resume point, on any
 * instance.
 */
export type Position = { txid: bigint; id: bigint };

export const ORIGIN: Position = { txid: 0n, id: 0n };

export function comparePositions(a: Position, b: Position): number {
  if (a.txid !== b.txid) return a.txid < b.txid ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  return 0;
}

export const isAfter = (a: Position, b: Position) => comparePositions(a, b) > 0;

/** Opaque cursor for clients: base64url of "txid.id". */
export function encodeCursor(p: Position): string {
  return Buffer.from(`${p.txid}.${p.id}`).toString("base64url");
}

/** Both parts are PostgreSQL int8 (txid and the event id): a larger number is no position. */
const INT8_MAX = 9_223_372_036_854_775_807n;

export function decodeCursor(cursor: string, field = "after"): Position {
  const invalid = () => badInput(field, "Invalid cursor: pass a cursor an event carried");
  // The longest valid cursor is base64url of "<19 digits>.<19 digits>": 52 characters.
  if (cursor.length > 64) throw invalid();
  const match = /^(\d{1,19})\.(\d{1,19})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match?.[1] || !match[2]) throw invalid();
  const position = { txid: BigInt(match[1]), id: BigInt(match[2]) };
  if (position.txid > INT8_MAX || position.id > INT8_MAX) throw invalid();
  return position;
}

export const toJson = (p: Position): PositionJson => ({ txid: p.txid.toString(), id: p.id.toString() });
export const fromJson = (p: PositionJson): Position => ({ txid: BigInt(p.txid), id: BigInt(p.id) });
