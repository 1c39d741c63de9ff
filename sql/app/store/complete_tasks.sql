-- A batch's tasks done, in one statement: in the same transaction that stores their
-- responses and snapshots, which is what lets a killed run resume without repeating them.
UPDATE search_task AS t
SET status = 'done',
    n_items = x.items,
    has_more = x.has_more,
    last_error = NULL,
    updated_at = now()
FROM unnest(CAST(:groups AS int[]), CAST(:platforms AS text[]), CAST(:pages AS int[]),
            CAST(:items AS int[]), CAST(:has_more AS boolean[]))
     AS x (group_id, platform, page, items, has_more)
WHERE (t.run_id, t.group_id, t.platform, t.page) = (:run, x.group_id, x.platform, x.page)
