-- Since when every attempt to a hook has failed (NULL after a success), and how many
-- attempts failed since; `serve --disable-after` disables a hook that fails long enough.
ALTER TABLE hooks ADD COLUMN failing_since BIGINT;
ALTER TABLE hooks ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
-- Set while a hook is disabled by that rule (not by its owner): its events are then held.
ALTER TABLE hooks ADD COLUMN disabled_at BIGINT;
ALTER TABLE hooks ADD COLUMN disabled_reason TEXT;
CREATE INDEX hooks_failing ON hooks (failing_since) WHERE failing_since IS NOT NULL;
-- A delivery may be 'held' (for a disabled hook, not yet attempted).
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('pending', 'succeeded', 'failed', 'held'));
-- Deliveries held for a disabled hook, listed and released by hook.
CREATE INDEX deliveries_held ON deliveries (hook_id, id) WHERE state = 'held';
