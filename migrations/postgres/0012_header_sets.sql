-- Request headers stored once per distinct set (`store::header_sets`): an attempt keeps in
-- `request_headers` only its own values (signatures, timestamps) and points at the template
-- its hook and event type share. Attempts recorded before keep their whole headers in
-- `request_headers` with no template. `used_at` is touched at most hourly by the attempts
-- that use a template; retention deletes those no stored attempt can use any more.
CREATE TABLE header_sets (
    id       BIGSERIAL PRIMARY KEY,
    digest   BYTEA NOT NULL UNIQUE,
    template TEXT NOT NULL,
    used_at  BIGINT NOT NULL
);
ALTER TABLE attempts ADD COLUMN header_set_id BIGINT;
