-- The event log's horizon: the position below which readers may read without an older event
-- committing behind them later. It used to be the oldest transaction running anywhere on the
-- PostgreSQL server (pg_snapshot_xmin), so one long transaction in ANOTHER database, or one here
-- that writes no events, held every subscriber back. Now it depends only on this database's writers
-- to the log:
--
-- 1. Every writer registers at its start, BEFORE its transaction has an id: event_log_register()
--    takes a shared transaction-level advisory lock (keys 1165387374, 1951165287: "Even", "tLog"),
--    visible at once to every session in pg_locks, without committing, and released when the
--    transaction ends (commit, rollback, or its session dying). Registering once the transaction
--    already has an id is refused: a reader may have passed that id already. The writer in
--    src/events/writer.ts calls it first thing; send_message (redefined below) calls it before it
--    takes its transaction id. A statement trigger on "Event" refuses inserts by anyone who did not
--    register, so nothing can bypass it.
-- 2. event_log_horizon() is, in a snapshot S0 it takes itself and a read of pg_locks right after
--    it, the oldest transaction of S0 that is running and registered; with none, S0's xmax. The
--    reader then reads txid < horizon in a LATER statement (READ COMMITTED: a later snapshot).
--
-- Why no event can commit below a horizon a reader has passed: take a writer W with transaction id
-- w < horizon whose events the reader's snapshot S did not see, so W had not finished at S. Then
-- w < xmax(S0): W had its id before S0, so it registered before S0 (it registers before it has an
-- id), and it holds the lock until after its commit is visible, so past S, which comes after the
-- pg_locks read. So at that read W held the lock and had its id: it is listed, and w (in S0's
-- running list) bounds the horizon: a contradiction. Transactions without an id at S0 get one
-- later, at or above xmax(S0). Transactions that never register (other databases, pg-boss, reads,
-- writes of other tables) can never append, so they never count.
-- The horizon never moves back between two calls one after the other: a writer listed by the
-- later call with an id below the earlier horizon had that id before the earlier S0, so the
-- earlier call listed it too; and xmax only grows. So a cursor handed out stays below every later
-- horizon.
--
-- A writer that stays open holds the horizon (and so every subscriber) for that long: one idle in
-- its transaction is ended by idle_in_transaction_session_timeout (src/core/db.ts), one that runs
-- on by Prisma's transaction timeout; a crashed one releases the lock with its session.

CREATE FUNCTION event_log_register() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('event_log.writer', true) = 'on' THEN
    RETURN;
  END IF;
  IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
    RAISE EXCEPTION 'event log writers must register (event_log_register()) before their transaction writes anything'
      USING ERRCODE = '55000';
  END IF;
  PERFORM pg_advisory_xact_lock_shared(1165387374, 1951165287);
  PERFORM set_config('event_log.writer', 'on', true);
END;
$$;

CREATE FUNCTION event_log_require_writer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('event_log.writer', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION 'only a registered writer appends to "Event": call event_log_register() first in the transaction (src/events/writer.ts)'
      USING ERRCODE = '55000';
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER "Event_registered_writer" BEFORE INSERT ON "Event"
  FOR EACH STATEMENT EXECUTE FUNCTION event_log_require_writer();

-- The registered writers of this database that have a transaction id: its low 32 bits (pg_locks
-- shows 32-bit xids), and their pid. One scan of the lock table.
CREATE FUNCTION event_log_writer_xids() RETURNS TABLE (xid32 bigint, pid integer) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
  WITH locks AS MATERIALIZED (
    SELECT l.locktype, l.virtualtransaction, l.transactionid, l.pid
    FROM pg_locks l
    WHERE l.granted
      AND ((l.locktype = 'advisory' AND l.classid = 1165387374 AND l.objid = 1951165287 AND l.objsubid = 2
            AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()))
        OR (l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock')))
  SELECT t.transactionid::text::bigint, w.pid
  FROM locks w JOIN locks t ON t.virtualtransaction = w.virtualtransaction AND t.locktype = 'transactionid'
  WHERE w.locktype = 'advisory';
END;
$$;

CREATE FUNCTION event_log_horizon() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_snapshot pg_snapshot;
  v_writers bigint[];
  v_horizon bigint;
BEGIN
  -- The reader's snapshot must come after this call: a later statement of a READ COMMITTED transaction.
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'the event log is read in READ COMMITTED transactions only' USING ERRCODE = '0A000';
  END IF;
  v_snapshot := pg_current_snapshot(); -- S0 (a volatile function's own, fresh snapshot)
  IF NOT EXISTS (SELECT FROM pg_snapshot_xip(v_snapshot)) THEN
    RETURN pg_snapshot_xmax(v_snapshot)::text::bigint;
  END IF;
  -- After S0, who holds the writer lock (one scan of the lock table; plpgsql keeps the plan) ...
  WITH locks AS MATERIALIZED (
    SELECT l.locktype, l.virtualtransaction, l.transactionid
    FROM pg_locks l
    WHERE l.granted
      AND ((l.locktype = 'advisory' AND l.classid = 1165387374 AND l.objid = 1951165287 AND l.objsubid = 2
            AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()))
        OR (l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock')))
  SELECT array_agg(t.transactionid::text::bigint) INTO v_writers
  FROM locks w JOIN locks t ON t.virtualtransaction = w.virtualtransaction AND t.locktype = 'transactionid'
  WHERE w.locktype = 'advisory';
  -- ... and the oldest of them that S0 saw running (pg_locks shows the low 32 bits of an id).
  SELECT min(x::text::bigint) INTO v_horizon
  FROM pg_snapshot_xip(v_snapshot) x
  WHERE x::text::bigint % 4294967296 = ANY (coalesce(v_writers, '{}'));
  RETURN coalesce(v_horizon, pg_snapshot_xmax(v_snapshot)::text::bigint);
END;
$$;

-- send_message (see *_send_message_function) registers as a writer before it takes its
-- transaction id; otherwise unchanged.
CREATE OR REPLACE FUNCTION send_message(
  p_id uuid, p_conversation uuid, p_sender uuid, p_content text, p_parent uuid, p_client_message_id text
) RETURNS TABLE (
  status text, id uuid, "conversationId" uuid, seq integer, "senderId" uuid, kind "MessageKind",
  content text, "parentId" uuid, "replyCount" integer, "lastReplyAt" timestamp(3),
  "clientMessageId" text, "createdAt" timestamp(3), "editedAt" timestamp(3), "deletedAt" timestamp(3),
  "eventId" bigint, "eventTxid" bigint
) LANGUAGE plpgsql AS $$
DECLARE
  v_txid bigint;
  v_last_txid bigint;
  v_seq integer;
  v_message "Message";
  v_event_id bigint;
BEGIN
  PERFORM event_log_register();
  v_txid := pg_current_xact_id()::text::bigint;
  SELECT c."lastTxid" INTO v_last_txid FROM "Conversation" c WHERE c.id = p_conversation FOR UPDATE;
  IF NOT FOUND OR NOT EXISTS (
    SELECT 1 FROM "Membership" m
    WHERE m."conversationId" = p_conversation AND m."userId" = p_sender AND m."leftAt" IS NULL
  ) THEN
    status := 'not_member';
    RETURN NEXT;
    RETURN;
  END IF;
  IF v_last_txid >= v_txid THEN
    status := 'out_of_order';
    RETURN NEXT;
    RETURN;
  END IF;

  UPDATE "Conversation" c
  SET "lastSeq" = c."lastSeq" + 1,
      "messageCount" = c."messageCount" + CASE WHEN p_parent IS NULL THEN 1 ELSE 0 END,
      "lastActivityAt" = now(),
      "lastTxid" = v_txid
  WHERE c.id = p_conversation
  RETURNING c."lastSeq" INTO v_seq;

  INSERT INTO "Message" (id, "conversationId", seq, "senderId", content, "parentId", "clientMessageId")
  VALUES (p_id, p_conversation, v_seq, p_sender, p_content, p_parent, p_client_message_id)
  RETURNING * INTO v_message;

  IF p_parent IS NULL THEN
    UPDATE "Conversation" c SET "lastMessageId" = p_id WHERE c.id = p_conversation;
  ELSE
    UPDATE "Message" p SET "replyCount" = p."replyCount" + 1, "lastReplyAt" = now() WHERE p.id = p_parent;
  END IF;

  UPDATE "Membership" m SET "unreadCount" = m."unreadCount" + 1
  WHERE m."conversationId" = p_conversation AND m."userId" <> p_sender AND m."leftAt" IS NULL;
  UPDATE "Membership" m SET "lastReadSeq" = v_seq, "lastReadAt" = now(), "unreadCount" = 0
  WHERE m."conversationId" = p_conversation AND m."userId" = p_sender;

  INSERT INTO "Event" (type, "conversationId", "messageId", seq, payload)
  VALUES (
    CASE WHEN p_parent IS NULL THEN 'message.created' ELSE 'message.replied' END,
    p_conversation, p_id, v_seq,
    jsonb_strip_nulls(jsonb_build_object('senderId', p_sender::text, 'parentId', p_parent::text))
  )
  RETURNING "Event".id INTO v_event_id;

  status := 'ok';
  id := v_message.id;
  "conversationId" := v_message."conversationId";
  seq := v_message.seq;
  "senderId" := v_message."senderId";
  kind := v_message.kind;
  content := v_message.content;
  "parentId" := v_message."parentId";
  "replyCount" := v_message."replyCount";
  "lastReplyAt" := v_message."lastReplyAt";
  "clientMessageId" := v_message."clientMessageId";
  "createdAt" := v_message."createdAt";
  "editedAt" := v_message."editedAt";
  "deletedAt" := v_message."deletedAt";
  "eventId" := v_event_id;
  "eventTxid" := v_txid;
  RETURN NEXT;
END;
$$;
