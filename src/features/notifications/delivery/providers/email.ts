// Email over SMTP with nodemailer. The Message-ID is derived from the delivery id, so a send
// repeated after a crash carries the same id and the receiving side can recognise it.
import nodemailer from "nodemailer";
import { type OutboundMessage, type Provider, ProviderError } from "./types.ts";

/** The domain part of the sender address, for Message-IDs (`<id@domain>`). */
function senderDomain(from: string): string {
  const match = /@([^>\s]+)>?\s*$/.exec(from);
  return match?.[1] ?? "localhost";
}

export type Mail = { to: string; subject: string; text: string; messageId: string };

export type EmailProvider = Provider & {
  /** Sends any mail (the daily digest uses this); same error rules as `send`. */
  sendMail(mail: Mail): Promise<string | null>;
  messageIdFor(id: string): string;
};

/** SMTP replies 5xx are permanent (bad mailbox, rejected); the rest may pass on a later try. */
function classify(error: unknown): ProviderError {
  const e = error as { responseCode?: number; message?: string; code?: string };
  const permanent = typeof e.responseCode === "number" && e.responseCode >= 500 && e.responseCode < 600;
  return new ProviderError(`email: ${e.message ?? String(error)}`, !permanent);
}

export function emailProvider(smtpUrl: string, from: string, timeoutMs: number): EmailProvider {
  const transport = nodemailer.createTransport({
    url: smtpUrl,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  const domain = senderDomain(from);
  const messageIdFor = (id: string) => `<${id}@${domain}>`;
  const sendMail = async (mail: Mail) => {
    try {
      const info = await transport.sendMail({
        from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        messageId: mail.messageId,
      });
      return typeof info.messageId === "string" ? info.messageId : mail.messageId;
    } catch (error) {
      throw classify(error);
    }
  };
  return {
    messageIdFor,
    sendMail,
    async send(message: OutboundMessage) {
      const text = message.actionUrl ? `${message.body}\n\n${message.actionUrl}\n` : `${message.body}\n`;
      const id = await sendMail({
        to: message.to,
        subject: message.title,
        text,
        messageId: messageIdFor(message.deliveryId),
      });
      return { providerMessageId: id };
    },
  };
}
