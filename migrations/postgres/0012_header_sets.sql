-- Request headers stored once per distinct set (`store::header_sets`): an attempt keeps in
-- `request_headers` only its own values (signatures, timestamps) and points at the template
-- its hook and event type share. Attempts recorded before keep their whole headers in
-- `request_headers` with no template. Templates are few and small, and are never deleted.
CREATE TABLE header_sets (
    id       BIGSERIAL PRIMARY KEY,
    digest   BYTEA NOT NULL UNIQUE,
    template TEXT NOT NULL
);
ALTER TABLE attempts ADD COLUMN header_set_id BIGINT;
