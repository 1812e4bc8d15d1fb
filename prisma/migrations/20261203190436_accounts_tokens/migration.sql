-- Accounts: case-insensitive usernames, and token revocation (a per-user version, and single
-- tokens signed out before their expiry).

-- AlterTable
ALTER TABLE "User" ADD COLUMN     "tokenVersion" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "usernameKey" TEXT;

-- Usernames that differ only in case clash from now on. Deterministically, the oldest account
-- (createdAt, then id) keeps its name; each later one is renamed to its first 23 characters, a
-- dash and the last 8 hex digits of its id (random in a uuid v7), which fits the 32-character limit
-- and the allowed characters, and cannot clash again.
WITH ranked AS (
  SELECT id, row_number() OVER (PARTITION BY lower(username) ORDER BY "createdAt", id) AS n
  FROM "User"
)
UPDATE "User" u
SET username = left(u.username, 23) || '-' || right(replace(u.id::text, '-', ''), 8)
FROM ranked r
WHERE r.id = u.id AND r.n > 1;

UPDATE "User" SET "usernameKey" = lower(username);

ALTER TABLE "User" ALTER COLUMN "usernameKey" SET NOT NULL;

-- CreateTable
CREATE TABLE "RevokedToken" (
    "jti" TEXT NOT NULL,
    "userId" UUID NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "RevokedToken_pkey" PRIMARY KEY ("jti")
);

-- CreateIndex
CREATE INDEX "RevokedToken_expiresAt_idx" ON "RevokedToken"("expiresAt");

-- CreateIndex
CREATE UNIQUE INDEX "User_usernameKey_key" ON "User"("usernameKey");

-- AddForeignKey
ALTER TABLE "RevokedToken" ADD CONSTRAINT "RevokedToken_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
