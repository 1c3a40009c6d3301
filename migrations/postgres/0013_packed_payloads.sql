-- Event payloads packed with zstd (`store::packing`): PostgreSQL compresses a value only
-- once its row passes ~2 KB, so a payload of a few hundred bytes to a couple of KB was
-- stored whole. A new event keeps its payload either in `payload`, as published (small,
-- large, or not shrinking), or packed in `payload_packed`; never both. The packed column
-- is not compressed again by PostgreSQL (EXTERNAL), only moved out of line if it must be.
-- Events stored before keep their `payload`.
ALTER TABLE events ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE events ADD COLUMN payload_packed BYTEA;
ALTER TABLE events ALTER COLUMN payload_packed SET STORAGE EXTERNAL;
ALTER TABLE events ADD CONSTRAINT events_one_payload
    CHECK (num_nonnulls(payload, payload_packed) = 1) NOT VALID;
