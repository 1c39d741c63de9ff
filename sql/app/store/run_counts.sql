-- What a run did, counted from the tables themselves (so the counts always add up).
SELECT
    (SELECT count(*) FROM image_group_member WHERE run_id = :run)                     AS n_images,
    (SELECT count(*) FROM image_group WHERE run_id = :run)                            AS n_groups,
    (SELECT count(*) FROM search_task WHERE run_id = :run AND status = 'done')        AS n_searches,
    (SELECT count(*) FROM price_snapshot WHERE run_id = :run)                         AS n_snapshots,
    (SELECT count(*) FROM reject WHERE run_id = :run)                                 AS n_rejects,
    (SELECT count(*) FROM search_task WHERE run_id = :run AND status = 'failed')      AS n_failed,
    (SELECT count(*) FROM search_task WHERE run_id = :run AND status = 'skipped')     AS n_skipped,
    (SELECT count(*) FROM search_task WHERE run_id = :run AND status = 'pending')     AS n_pending
