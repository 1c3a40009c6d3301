-- Bulk recoveries: one more attempt of every failed delivery of a hook published in a window.
-- The deliveries a recovery queued point back at it, so its progress is counted from them.
CREATE TABLE recoveries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    hook_id    INTEGER NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
    since      INTEGER NOT NULL,
    until      INTEGER,
    created_at INTEGER NOT NULL,
    queued     INTEGER NOT NULL
);
CREATE INDEX recoveries_by_hook ON recoveries (hook_id, id);
ALTER TABLE deliveries ADD COLUMN recovery_id INTEGER REFERENCES recoveries(id) ON DELETE SET NULL;
CREATE INDEX deliveries_by_recovery ON deliveries (recovery_id);
