import type { Services } from "../core/services.ts";
import type { EventHub } from "./hub.ts";

/** The core services plus this instance's event log reader, which feeds live subscriptions and loops. */
export type LiveServices = Services & { hub: EventHub };

/** What a feature's worker registration may leave running besides pg-boss workers; stopped first. */
export type StopWorker = () => Promise<void> | void;

/** Each feature registers its queue handlers (and loops fed by the log) in one function. */
export type RegisterWorkers = (services: LiveServices) => Promise<StopWorker | undefined>;
