-- A task done: in the same transaction that stores its response and snapshots, which is
-- what lets a killed run resume without repeating it.
UPDATE search_task
SET status = 'done',
    n_items = :items,
    has_more = :has_more,
    last_error = NULL,
    updated_at = now()
WHERE (run_id, group_id, platform, page) = (:run, :group, :platform, :page)
