-- Owner tokens gain a scope, an expiry, a revocation instant (revoked tokens are kept, so
-- their ids are never handed out again) and the instant they were last used.
ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'manage'
    CHECK (scope IN ('manage', 'publish'));
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE tokens ADD COLUMN revoked_at BIGINT;
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
