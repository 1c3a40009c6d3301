-- Since when every attempt to a hook has failed (NULL after a success), and how many
-- attempts failed since; `serve --disable-after` disables a hook that fails long enough.
ALTER TABLE hooks ADD COLUMN failing_since BIGINT;
ALTER TABLE hooks ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
-- Set while a hook is disabled by that rule (not by its owner): its events are then held.
ALTER TABLE hooks ADD COLUMN disabled_at BIGINT;
ALTER TABLE hooks ADD COLUMN disabled_reason TEXT;
CREATE INDEX hooks_failing ON hooks (failing_since) WHERE failing_since IS NOT NULL;

-- A delivery may be 'held' (for a disabled hook, not yet attempted). SQLite cannot change a
-- CHECK constraint, so the table is rebuilt with every column and index it has.
CREATE TABLE deliveries_new (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    hook_id         INTEGER NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
    installation_id INTEGER,
    retry           INTEGER NOT NULL,
    redelivery      INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed', 'held')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    due_at          INTEGER,
    leased_by       TEXT,
    lease_until     INTEGER,
    recovery_id     INTEGER REFERENCES recoveries(id) ON DELETE SET NULL,
    throttled_at    BIGINT,
    fifo_seq        BIGINT
);
INSERT INTO deliveries_new (id, event_id, hook_id, installation_id, retry, redelivery, state,
                            attempts, due_at, leased_by, lease_until, recovery_id,
                            throttled_at, fifo_seq)
SELECT id, event_id, hook_id, installation_id, retry, redelivery, state, attempts, due_at,
       leased_by, lease_until, recovery_id, throttled_at, fifo_seq
FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries (due_at);
CREATE INDEX deliveries_by_event ON deliveries (event_id, hook_id);
CREATE INDEX deliveries_by_recovery ON deliveries (recovery_id);
CREATE INDEX deliveries_fifo_line ON deliveries (hook_id, fifo_seq)
    WHERE state = 'pending' AND fifo_seq IS NOT NULL;
CREATE INDEX deliveries_unlined ON deliveries (hook_id)
    WHERE state = 'pending' AND due_at IS NULL AND fifo_seq IS NULL;
-- Deliveries held for a disabled hook, listed and released by hook.
CREATE INDEX deliveries_held ON deliveries (hook_id, id) WHERE state = 'held';
