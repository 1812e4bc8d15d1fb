-- send_message: the whole of one send as one server-side function, so it costs one round trip and
-- its statements' plans are cached (a CTE of the same work was re-planned on every call, ~1 ms).
-- Steps, all in the caller's transaction:
--   1. lock the conversation row (every send, read, delete and membership change of a conversation
--      takes this lock first);
--   2. check membership AFTER the lock, with a fresh snapshot, so a member removed meanwhile cannot send;
--   3. ordering fence: a transaction whose id is lower than the last sender's returns 'out_of_order'
--      and the caller retries with a new transaction, so log order (txid, id) follows seq;
--   4. allocate the seq, insert the message, move every counter, append the event.
-- status: 'ok' | 'not_member' | 'out_of_order'. A duplicate clientMessageId raises unique_violation.
CREATE FUNCTION send_message(
  p_id uuid, p_conversation uuid, p_sender uuid, p_content text, p_parent uuid, p_client_message_id text
) RETURNS TABLE (
  status text, id uuid, "conversationId" uuid, seq integer, "senderId" uuid, kind "MessageKind",
  content text, "parentId" uuid, "replyCount" integer, "lastReplyAt" timestamp(3),
  "clientMessageId" text, "createdAt" timestamp(3), "editedAt" timestamp(3), "deletedAt" timestamp(3),
  "eventId" bigint, "eventTxid" bigint
) LANGUAGE plpgsql AS $$
DECLARE
  v_txid bigint := pg_current_xact_id()::text::bigint;
  v_last_txid bigint;
  v_seq integer;
  v_message "Message";
  v_event_id bigint;
BEGIN
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
