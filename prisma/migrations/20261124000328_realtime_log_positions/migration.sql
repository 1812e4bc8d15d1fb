-- CreateEnum
CREATE TYPE "NotificationPriority" AS ENUM ('LOW', 'NORMAL', 'HIGH', 'URGENT');

-- DropIndex
DROP INDEX "Event_conversationId_id_idx";

-- DropIndex
DROP INDEX "Event_userId_id_idx";

-- AlterTable
ALTER TABLE "Conversation" ADD COLUMN     "lastTxid" BIGINT NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "Event" ADD COLUMN     "txid" BIGINT NOT NULL DEFAULT ((pg_current_xact_id())::text)::bigint;

-- CreateTable
CREATE TABLE "EventLogState" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "prunedBeforeTxid" BIGINT NOT NULL DEFAULT 0,
    "prunedBeforeId" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "EventLogState_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Notification" (
    "id" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "priority" "NotificationPriority" NOT NULL DEFAULT 'NORMAL',
    "actionUrl" TEXT,
    "data" JSONB NOT NULL DEFAULT '{}',
    "readAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Notification_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Notification_userId_createdAt_id_idx" ON "Notification"("userId", "createdAt" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "Event_txid_id_idx" ON "Event"("txid", "id");

-- CreateIndex
CREATE INDEX "Event_conversationId_txid_id_idx" ON "Event"("conversationId", "txid", "id");

-- CreateIndex
CREATE INDEX "Event_userId_txid_id_idx" ON "Event"("userId", "txid", "id");

-- AddForeignKey
ALTER TABLE "Notification" ADD CONSTRAINT "Notification_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
