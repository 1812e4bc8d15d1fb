// Servers the tests start themselves (HTTP receivers, SMTP, proxies) listen on 127.0.0.1 at a port
// the system picks; this does the listening and answers with that port.
import type { AddressInfo } from "node:net";

/** An HTTP/net server, or smtp-server's SMTPServer (whose address lives on its inner `.server`). */
export type Listenable = {
  listen(port: number, host: string, callback: () => void): unknown;
  once(event: "error", listener: (error: Error) => void): unknown;
};

/** Listens on 127.0.0.1, port 0; resolves with the port (`address` reads the bound address). */
export async function listenLocal(
  server: Listenable,
  address: () => AddressInfo | string | null,
): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const bound = address();
  if (typeof bound !== "object" || !bound) throw new Error("server has no TCP address");
  return bound.port;
}
