-- Hook and attempt ids are never handed out again (GitHub never reuses one, and receivers
-- key on X-GitHub-Hook-ID and the delivery id): without AUTOINCREMENT, SQLite gives the
-- next row the largest id + 1, so deleting the newest hook made its id come back. A table
-- cannot gain AUTOINCREMENT in place: both are rebuilt with the same columns, rows and
-- indexes (the migration runs with foreign keys off and checks them afterwards).

CREATE TABLE hooks_new (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id         INTEGER REFERENCES repositories(id),
    organization_id       INTEGER REFERENCES accounts(id),
    app_id                INTEGER UNIQUE REFERENCES apps(id) ON DELETE CASCADE,
    name                  TEXT NOT NULL,
    active                INTEGER NOT NULL,
    events                TEXT NOT NULL,
    url                   TEXT NOT NULL,
    content_type          TEXT NOT NULL CHECK (content_type IN ('json', 'form')),
    secret                TEXT,
    insecure_ssl          INTEGER NOT NULL,
    headers               TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    -- last_response; last_status NULL means "unused".
    last_status           TEXT CHECK (last_status IN ('active', 'failed')),
    last_code             INTEGER,
    last_message          TEXT,
    CHECK ((repository_id IS NOT NULL) + (organization_id IS NOT NULL) + (app_id IS NOT NULL) = 1)
);
INSERT INTO hooks_new SELECT * FROM hooks;
DROP TABLE hooks;
ALTER TABLE hooks_new RENAME TO hooks;
CREATE INDEX hooks_by_repository ON hooks (repository_id, id);
CREATE INDEX hooks_by_organization ON hooks (organization_id, id);

CREATE TABLE attempts_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id      INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    hook_id          INTEGER NOT NULL,
    event_id         INTEGER NOT NULL,
    installation_id  INTEGER,
    redelivery       INTEGER NOT NULL,
    delivered_at     INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    status           TEXT NOT NULL,
    status_code      INTEGER NOT NULL,
    url              TEXT NOT NULL,
    request_headers  TEXT NOT NULL,
    response_headers TEXT NOT NULL,
    response_body    BLOB NOT NULL,
    throttled_at     INTEGER
);
INSERT INTO attempts_new SELECT * FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_new RENAME TO attempts;
CREATE INDEX attempts_by_hook ON attempts (hook_id, id);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id);
