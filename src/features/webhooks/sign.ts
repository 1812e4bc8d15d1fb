// Webhook signatures per Standard Webhooks (standardwebhooks.com): the timestamped HMAC-SHA256
// scheme of Stripe and GitHub, standardised, with verifying libraries for every language, so a
// receiver checks us with a few lines and the secret we returned once.
import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";

const SECRET_PREFIX = "whsec_";

/** A new signing secret in the Standard Webhooks format: `whsec_` + base64 of 24 random bytes. */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(24).toString("base64")}`;
}

/**
 * The headers that sign `body`: webhook-id (stable across retries, so a receiver can drop a
 * repeat), webhook-timestamp (unix seconds, so it can refuse a stale replay) and webhook-signature
 * ("v1,<base64 HMAC-SHA256 of id.timestamp.body>").
 */
export function signatureHeaders(secret: string, id: string, body: string, at = new Date()) {
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(id, at, body),
  };
}
