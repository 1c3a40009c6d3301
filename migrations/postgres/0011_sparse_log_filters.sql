-- The delivery list's filters that select few of a hook's attempts (failures, redeliveries
-- and retries) read indexes of those attempts only, in the list's order, instead of
-- walking the hook's whole log to find them. Each predicate is written as the list's query
-- writes it (`columns::log_filter`), so that the planner knows the index covers it.
CREATE INDEX attempts_failed_by_hook ON attempts (hook_id, id)
    WHERE (status_code = 0 OR status_code BETWEEN 400 AND 599);
CREATE INDEX attempts_redelivered_by_hook ON attempts (hook_id, id) WHERE redelivery;
