-- A hook's `config.ordering`: 'none' (side by side) or 'fifo' (one at a time, in commit
-- order), and the last place in its line handed out.
ALTER TABLE hooks ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none';
ALTER TABLE hooks ADD COLUMN fifo_next BIGINT NOT NULL DEFAULT 0;
-- A FIFO hook's delivery's place in its line, given under a lock on the hook's row in the
-- transaction that commits it (so places follow commit order). Only the lowest pending
-- place has a due time; the rest wait with none, and each end of a head makes the next due.
ALTER TABLE deliveries ADD COLUMN fifo_seq BIGINT;
CREATE INDEX deliveries_fifo_line ON deliveries (hook_id, fifo_seq)
    WHERE state = 'pending' AND fifo_seq IS NOT NULL;
-- New deliveries of FIFO hooks between their insert and their place in line (one
-- transaction): found by hook without reading the hook's history.
CREATE INDEX deliveries_unlined ON deliveries (hook_id)
    WHERE state = 'pending' AND due_at IS NULL AND fifo_seq IS NULL;
