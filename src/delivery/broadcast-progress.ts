import type { Emit } from "../events/transaction.ts";
import type { Prisma } from "../generated/prisma/client.ts";

/**
 * Called (inside the transaction that changed it) whenever a delivery that belongs to a broadcast
 * changes state: recomputes that recipient's state and completes the broadcast when nothing is left.
 * Placeholder: implemented by the broadcast work of issue 4.
 */
export async function recipientDeliveryChanged(
  _tx: Prisma.TransactionClient,
  _emit: Emit,
  _broadcastId: string,
  _userId: string,
): Promise<void> {}
