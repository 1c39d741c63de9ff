-- The next pages of a batch's searches that said they have more (idempotent).
INSERT INTO search_task (run_id, group_id, platform, page)
SELECT :run, x.group_id, x.platform, x.page
FROM unnest(CAST(:groups AS int[]), CAST(:platforms AS text[]), CAST(:pages AS int[]))
     AS x (group_id, platform, page)
ON CONFLICT DO NOTHING
