-- Count an attempt before the call is made, so that a crash mid-call is still visible.
UPDATE search_task
SET attempts = attempts + 1,
    status = 'pending',
    updated_at = now()
WHERE (run_id, group_id, platform, page) = (:run, :group, :platform, :page)
