-- Web UI sessions, kept in the database so that every process of a cluster (and a
-- restarted one) knows them. Only digests: the session id is the cookie's secret, and the
-- token it was opened with is re-checked on every request.
CREATE TABLE sessions (
    id_hash    BLOB PRIMARY KEY,
    token_hash BLOB NOT NULL,
    csrf       TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
