// A real SMTP server (the `smtp-server` package) on 127.0.0.1 and a free port, capturing every mail
// the app sends, for the email provider tests. It can refuse the next N mails with a 4xx/5xx reply.
import { SMTPServer } from "smtp-server";
import { listenLocal } from "./listen.ts";

export type CapturedMail = {
  from: string;
  to: string[];
  subject: string;
  messageId: string;
  /** The text body, transfer encoding undone. */
  text: string;
  headers: Map<string, string>;
  raw: string;
};

export type SmtpSink = {
  /** smtp://127.0.0.1:<port> for SMTP_URL. */
  url: string;
  mails: CapturedMail[];
  /** Refuse the next `count` mails with `code` (e.g. 451 temporary, 550 permanent). */
  refuseNext(count: number, code: number): void;
  close(): Promise<void>;
};

function decodeQuotedPrintable(text: string): string {
  const bytes = text
    .replace(/=\r?\n/g, "")
    .replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  return Buffer.from(bytes, "latin1").toString("utf8");
}

function parseMail(raw: string, from: string, to: string[]): CapturedMail {
  const split = raw.indexOf("\r\n\r\n");
  const head = split === -1 ? raw : raw.slice(0, split);
  let body = split === -1 ? "" : raw.slice(split + 4);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r\n[ \t]+/g, " ").split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  const encoding = headers.get("content-transfer-encoding")?.toLowerCase();
  if (encoding === "quoted-printable") body = decodeQuotedPrintable(body);
  if (encoding === "base64") body = Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  return {
    from,
    to,
    subject: headers.get("subject") ?? "",
    messageId: headers.get("message-id") ?? "",
    text: body.replace(/\r\n/g, "\n"),
    headers,
    raw,
  };
}

/**
 * `beforeAccept` runs for each mail before the server answers 250 (a test can look at the database
 * while the app waits for its mail server, or hold the answer back); if it throws, the mail is refused.
 */
export async function startSmtp(
  options: { beforeAccept?: (mail: CapturedMail) => Promise<void> } = {},
): Promise<SmtpSink> {
  const mails: CapturedMail[] = [];
  let refusals = { count: 0, code: 451 };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        if (refusals.count > 0) {
          refusals.count -= 1;
          const error = Object.assign(new Error(`refused by the test (${refusals.code})`), {
            responseCode: refusals.code,
          });
          callback(error);
          return;
        }
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
        const to = session.envelope.rcptTo.map((r) => r.address);
        const mail = parseMail(Buffer.concat(chunks).toString("utf8"), from, to);
        (options.beforeAccept?.(mail) ?? Promise.resolve()).then(
          () => {
            mails.push(mail);
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  const port = await listenLocal(server, () => server.server.address());
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    refuseNext(count, code) {
      refusals = { count, code };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
