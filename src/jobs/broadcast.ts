import type { RegisterWorkers } from "./workers.ts";

// Placeholder: filled in by the broadcast work of issue 4.
export const registerBroadcastWorkers: RegisterWorkers = async () => undefined;
