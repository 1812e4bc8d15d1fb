import type { RegisterWorkers } from "./workers.ts";

// Placeholder: filled in by the delivery work of issue 4.
export const registerDeliveryWorkers: RegisterWorkers = async () => undefined;
