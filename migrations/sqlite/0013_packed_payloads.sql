-- Event payloads packed with zstd (`store::packing`), as on PostgreSQL: JSON of a few
-- hundred bytes to 8 KiB usually packs to half or less. A packed event keeps its payload
-- in `payload_packed` and an empty `payload` (the column is NOT NULL, and SQLite cannot
-- relax that without rebuilding the table); readers take `payload` only when
-- `payload_packed` is NULL. Events stored before keep their `payload`.
ALTER TABLE events ADD COLUMN payload_packed BLOB;
