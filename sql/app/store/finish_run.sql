-- Close a run with its final status and the counts of store/run_counts.sql.
UPDATE run
SET status = :status,
    finished_at = now(),
    message = :message,
    n_images = :n_images,
    n_groups = :n_groups,
    n_searches = :n_searches,
    n_snapshots = :n_snapshots,
    n_rejects = :n_rejects
WHERE run_id = :run
