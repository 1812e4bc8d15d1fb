// The provider interface behind every out-of-app channel: one call per delivery, with the delivery
// id as idempotency key so a provider can drop a send repeated after a crash.
import type { TargetKind } from "../../../../generated/prisma/client.ts";

/** What one delivery sends: a rendered notification to one address. */
export type OutboundMessage = {
  deliveryId: string;
  channel: TargetKind;
  /** Email address, E.164 phone number or push token. */
  to: string;
  title: string;
  body: string;
  priority: string;
  actionUrl: string | null;
  data: unknown;
};

export type SendResult = { providerMessageId: string | null };

export type Provider = {
  send(message: OutboundMessage): Promise<SendResult>;
};

/**
 * A failed send. `retryable` failures (5xx, 408/429, timeouts, refused connections) are tried
 * again with backoff; the others (other 4xx, a rejected address) fail the delivery at once.
 */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = "ProviderError";
  }
}

/** The configured provider of each channel; a missing one fails its deliveries. */
export type Providers = Partial<Record<TargetKind, Provider>>;
