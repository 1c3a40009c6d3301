-- A hook's signature scheme (GitHub's headers, Standard Webhooks', or both) and, during a
-- secret rotation, the previous secret with the instant it stops signing.
ALTER TABLE hooks ADD COLUMN signature TEXT NOT NULL DEFAULT 'github'
    CHECK (signature IN ('github', 'standard', 'both'));
ALTER TABLE hooks ADD COLUMN previous_secret TEXT;
ALTER TABLE hooks ADD COLUMN previous_secret_expires_at INTEGER;
