-- A foreign key's check locks the row it points at (FOR KEY SHARE) in the inserting
-- transaction. Every publish to a repository pointed at the same repository, account and
-- hook rows, so concurrent publish batches shared those locks through multixacts, and each
-- lock rewrote the row's header; every attempt record locked its delivery's row just before
-- updating it. These keys go; what they guarded is kept otherwise:
-- - repositories and accounts are never deleted, and events name them as the same
--   transaction resolved them;
-- - a hook's deletion deletes its deliveries, then its attempts, itself; an attempt is
--   recorded only for a delivery row its own statement updated (so never after the
--   deletion took the row); a delivery queued by a publish that raced the deletion finds
--   no active hook when claimed and is cancelled, as for any deactivated hook, and
--   retention removes it with its event;
-- - retention deletes the attempts of the deliveries it prunes (which go with their events
--   by the key kept, `deliveries.event_id`).
ALTER TABLE events DROP CONSTRAINT events_repository_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_account_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_hook_id_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_delivery_id_fkey;
