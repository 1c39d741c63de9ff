-- The archived response of a task.
SELECT raw_id
FROM raw_response
WHERE (run_id, group_id, platform, page) = (:run, :group, :platform, :page)
