import type { LogEvent } from "../events/log.ts";
import { encodeCursor } from "../events/position.ts";
import { eventPosition } from "../events/stream.ts";

/** The resume cursor of a logged event: pass it back as `after` to continue right after it. */
export const cursorOf = (e: LogEvent) => encodeCursor(eventPosition(e));
