-- Hookpost's SQLite schema, version 1.
-- Instants are INTEGER milliseconds since the Unix epoch (UTC); JSON documents are TEXT.
-- Names that GitHub compares case-insensitively are stored twice: as written, and as a
-- lower-cased *_key that carries the uniqueness constraint.

-- Accounts are users and organizations, created when first named by a hook or an event.
CREATE TABLE accounts (
    id                  INTEGER PRIMARY KEY,
    login               TEXT NOT NULL,
    login_key           TEXT NOT NULL UNIQUE,
    -- Latest `organization` and `sender` objects published for this account, for the
    -- payloads Hookpost writes itself (ping).
    latest_organization TEXT,
    latest_sender       TEXT
);

CREATE TABLE repositories (
    id                   INTEGER PRIMARY KEY,
    account_id           INTEGER NOT NULL REFERENCES accounts(id),
    name                 TEXT NOT NULL,
    name_key             TEXT NOT NULL,
    latest_repository    TEXT,
    latest_sender        TEXT,
    -- The event `POST …/hooks/{id}/tests` delivers again.
    latest_push_event_id INTEGER,
    UNIQUE (account_id, name_key)
);

CREATE TABLE apps (
    id             INTEGER PRIMARY KEY,
    slug           TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    client_id      TEXT NOT NULL UNIQUE,
    -- Only the public half is kept; the private key is handed out once, at creation.
    public_key_pem TEXT NOT NULL,
    events         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE installations (
    id         INTEGER PRIMARY KEY,
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    created_at INTEGER NOT NULL,
    UNIQUE (app_id, account_id)
);
CREATE INDEX installations_by_account ON installations (account_id);

-- One row per webhook, whichever its scope: exactly one of the three scope columns is set.
CREATE TABLE hooks (
    id                    INTEGER PRIMARY KEY,
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
-- Indexes here are deliberately not partial: a partial index makes SQLite re-prepare a
-- statement whenever a bound parameter could change whether the index applies.
CREATE INDEX hooks_by_repository ON hooks (repository_id, id);
CREATE INDEX hooks_by_organization ON hooks (organization_id, id);

-- An event's payload is stored once, however many hooks it goes to.
CREATE TABLE events (
    id                     INTEGER PRIMARY KEY,
    guid                   TEXT NOT NULL UNIQUE,
    name                   TEXT NOT NULL,
    action                 TEXT,
    repository_id          INTEGER REFERENCES repositories(id),
    account_id             INTEGER REFERENCES accounts(id),
    -- The ids receivers see (X-GitHub-Hook-Installation-Target-ID, `repository_id`): the
    -- publisher's payload.repository.id / payload.organization.id, else our own row id.
    target_repository_id   INTEGER,
    target_organization_id INTEGER,
    payload                BLOB NOT NULL,
    created_at             INTEGER NOT NULL
);
CREATE INDEX events_by_age ON events (created_at);

-- The queue: one row per unit of delivery work for one event to one hook. The automatic
-- delivery of a published event follows the retry schedule (retry = 1); a manual
-- redelivery or a test push is one more row that is tried once (retry = 0).
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    hook_id         INTEGER NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
    installation_id INTEGER,
    retry           INTEGER NOT NULL,
    redelivery      INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    -- Attempts made so far: the position in the retry schedule.
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- When the next attempt is due; NULL when nothing is scheduled.
    due_at          INTEGER,
    -- A worker that claimed the row owns it until lease_until; then anyone may.
    leased_by       TEXT,
    lease_until     INTEGER
);
CREATE INDEX deliveries_due ON deliveries (due_at);
CREATE INDEX deliveries_by_event ON deliveries (event_id, hook_id);

-- One row per try, with what was sent and what came back. The request body is not kept:
-- it is the event's payload, rebuilt on demand.
CREATE TABLE attempts (
    id               INTEGER PRIMARY KEY,
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
CREATE INDEX attempts_by_hook ON attempts (hook_id, id);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id);

-- Tokens are stored as SHA-256 digests only.
CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    hash       BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE token_owners (
    token_id  INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    owner_key TEXT NOT NULL,
    owner     TEXT NOT NULL,
    PRIMARY KEY (token_id, owner_key)
) WITHOUT ROWID;

-- Idempotency-Key replays, per token, kept 24 h.
CREATE TABLE idempotency_keys (
    token_id   INTEGER NOT NULL,
    key        TEXT NOT NULL,
    body_hash  BLOB NOT NULL,
    status     INTEGER NOT NULL,
    response   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (token_id, key)
) WITHOUT ROWID;

-- Server-wide values, such as the admin token's digest.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
