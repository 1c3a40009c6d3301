-- Today's shape: a delivery row per hook inserted at the publish, leased by the claim's
-- update, moved on by the record's update beside its attempt. `:events` events per batch,
-- each to `:hooks` hooks (pgbench -D). With `:hot` 1, the lease rewrites no indexed column
-- (it sets leased_by and lease_until only, and the claim skips leased rows by a filter):
-- run on a table with fillfactor 40, every lease is then a HOT update.
\set now 1000000
\set batch :events * :hooks
BEGIN;
WITH e AS (INSERT INTO events (guid, name, repository_id, account_id, payload_packed, created_at)
  SELECT gen_random_uuid()::text, 'push', 1, 1, decode(repeat('ab', 600), 'hex'), :now
  FROM generate_series(1, :events) RETURNING id)
INSERT INTO deliveries (event_id, hook_id, retry, redelivery, state, due_at)
SELECT e.id, h.id, true, false, 'pending', :now FROM e CROSS JOIN generate_series(1, :hooks) AS h(id);
COMMIT;
\if :hot
-- The HOT lease: no indexed column rewritten; leased rows are skipped by a filter.
WITH due AS (SELECT id FROM deliveries WHERE due_at <= :now AND lease_until IS NULL
             ORDER BY due_at LIMIT :batch FOR UPDATE SKIP LOCKED)
UPDATE deliveries d SET leased_by = 'n', lease_until = :now + 60000
WHERE d.id = ANY(ARRAY(SELECT id FROM due)) RETURNING d.id, d.event_id, d.hook_id;
\else
WITH due AS (SELECT id FROM deliveries WHERE due_at <= :now ORDER BY due_at LIMIT :batch
             FOR UPDATE SKIP LOCKED)
UPDATE deliveries d SET due_at = :now + 60000, leased_by = 'n', lease_until = :now + 60000
WHERE d.id = ANY(ARRAY(SELECT id FROM due)) RETURNING d.id, d.event_id, d.hook_id;
\endif
SELECT max(id) AS maxid FROM deliveries \gset
WITH moved AS (UPDATE deliveries SET state = 'succeeded', attempts = attempts + 1, due_at = NULL,
                 leased_by = NULL, lease_until = NULL
               WHERE id > :maxid - :batch AND id <= :maxid RETURNING id, hook_id, event_id)
INSERT INTO attempts (delivery_id, hook_id, event_id, redelivery, delivered_at, duration_ms, status,
                      status_code, url, request_headers, response_headers, response_body)
SELECT id, hook_id, event_id, false, :now, 5, 'OK', 200, 'http://127.0.0.1:9/hook', '["a","b"]',
       '{"content-length":"0"}', '\x'::bytea
FROM moved;
