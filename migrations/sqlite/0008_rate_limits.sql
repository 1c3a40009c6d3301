-- A hook's rate limit (`config.rate_limit`, attempts per second; NULL: none) and its
-- theoretical arrival time in microseconds, which every claim moves on by the slots it takes.
ALTER TABLE hooks ADD COLUMN rate_limit INTEGER;
ALTER TABLE hooks ADD COLUMN rate_tat BIGINT NOT NULL DEFAULT 0;
-- Set when a delivery was put off to its slot under its hook's rate limit: the slot is paid,
-- and the attempt made in it shows when the wait began (`throttled_at` in the log).
ALTER TABLE deliveries ADD COLUMN throttled_at BIGINT;
