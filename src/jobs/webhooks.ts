import type { RegisterWorkers } from "./workers.ts";

// Placeholder: filled in by the webhooks work of issue 4.
export const registerWebhookWorkers: RegisterWorkers = async () => undefined;
