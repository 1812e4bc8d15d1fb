-- AlterTable
ALTER TABLE "Delivery" ADD COLUMN     "digestClaim" UUID,
ADD COLUMN     "digestClaimUntil" TIMESTAMP(3);
