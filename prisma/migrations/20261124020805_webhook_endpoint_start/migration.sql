-- AlterTable
ALTER TABLE "WebhookEndpoint" ADD COLUMN     "startSnapshot" TEXT NOT NULL DEFAULT '';
