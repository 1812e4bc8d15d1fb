import type { RegisterWorkers } from "./workers.ts";

// Placeholder: filled in by the scheduled work of issue 4.
export const registerScheduledWorkers: RegisterWorkers = async () => undefined;
