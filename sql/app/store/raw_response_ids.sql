-- The archived responses of these tasks of a run: (group, platform, page, raw_id).
SELECT r.group_id, r.platform, r.page, r.raw_id
FROM unnest(CAST(:groups AS int[]), CAST(:platforms AS text[]), CAST(:pages AS int[]))
     AS x (group_id, platform, page)
JOIN raw_response AS r ON (r.run_id, r.group_id, r.platform, r.page) = (:run, x.group_id, x.platform, x.page)
