-- The alternative: one queue row per event; the claim leases it, the record deletes it and
-- inserts each hook's delivery row once, in its final state, beside its attempt. `:events`
-- events per batch, each to `:hooks` hooks (pgbench -D).
\set now 1000000
BEGIN;
WITH e AS (INSERT INTO events (guid, name, repository_id, account_id, payload_packed, created_at)
  SELECT gen_random_uuid()::text, 'push', 1, 1, decode(repeat('ab', 600), 'hex'), :now
  FROM generate_series(1, :events) RETURNING id)
INSERT INTO event_queue (event_id, due_at) SELECT id, :now FROM e;
COMMIT;
WITH due AS (SELECT event_id FROM event_queue WHERE due_at <= :now ORDER BY due_at LIMIT :events
             FOR UPDATE SKIP LOCKED)
UPDATE event_queue q SET due_at = :now + 60000, leased_by = 'n'
WHERE q.event_id = ANY(ARRAY(SELECT event_id FROM due)) RETURNING q.event_id;
SELECT max(event_id) AS maxev FROM event_queue \gset
WITH done AS (DELETE FROM event_queue WHERE event_id > :maxev - :events AND event_id <= :maxev
              RETURNING event_id),
     d AS (INSERT INTO deliveries (event_id, hook_id, retry, redelivery, state, attempts, due_at)
           SELECT done.event_id, h.id, true, false, 'succeeded', 1, NULL
           FROM done CROSS JOIN generate_series(1, :hooks) AS h(id) RETURNING id, hook_id, event_id)
INSERT INTO attempts (delivery_id, hook_id, event_id, redelivery, delivered_at, duration_ms, status,
                      status_code, url, request_headers, response_headers, response_body)
SELECT id, hook_id, event_id, false, :now, 5, 'OK', 200, 'http://127.0.0.1:9/hook', '["a","b"]',
       '{"content-length":"0"}', '\x'::bytea
FROM d;
