-- A hook's own retry schedule, as `config.retry_schedule` reads it (`10s,1m,1h` or `none`);
-- NULL follows the server's `--retry-schedule`.
ALTER TABLE hooks ADD COLUMN retry_schedule TEXT;
