-- A task that ends without results: failed (the request cannot succeed) or skipped (its
-- platform was stopped). A task already done stays done.
UPDATE search_task
SET status = :status,
    last_error = :error,
    updated_at = now()
WHERE (run_id, group_id, platform, page) = (:run, :group, :platform, :page)
  AND status <> 'done'
