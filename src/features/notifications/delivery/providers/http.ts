// SMS and push through an HTTP provider: POST JSON with an Idempotency-Key header (the delivery id).
import { type OutboundMessage, type Provider, ProviderError } from "./types.ts";

/** Statuses that say "try again later" although they are 4xx. */
const RETRYABLE_4XX = new Set([408, 429]);

export function httpProvider(url: string, timeoutMs: number): Provider {
  return {
    async send(message: OutboundMessage) {
      let response: Response;
      try {
        response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", "idempotency-key": message.deliveryId },
          body: JSON.stringify({
            deliveryId: message.deliveryId,
            to: message.to,
            title: message.title,
            body: message.body,
            priority: message.priority,
            actionUrl: message.actionUrl,
            data: message.data,
          }),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        // Timeouts, refused or reset connections: the provider may be back soon.
        const cause = error instanceof Error ? (error.cause ?? error) : error;
        const reason = cause instanceof Error ? cause.message : String(cause);
        throw new ProviderError(`${message.channel} provider unreachable: ${reason}`, true);
      }
      const text = await response.text().catch(() => "");
      if (response.ok) {
        let id: string | null = null;
        try {
          const body = JSON.parse(text) as { id?: unknown; messageId?: unknown };
          id =
            typeof body.id === "string"
              ? body.id
              : typeof body.messageId === "string"
                ? body.messageId
                : null;
        } catch {
          // A 2xx without a JSON body is still a success.
        }
        return { providerMessageId: id };
      }
      const retryable = response.status >= 500 || RETRYABLE_4XX.has(response.status);
      throw new ProviderError(
        `${message.channel} provider answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ""}`,
        retryable,
      );
    },
  };
}
