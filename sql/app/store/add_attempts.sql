-- Requests sent for tasks since the last batch, added set-wise in the batch's transaction
-- (one statement for the whole batch instead of a status round trip before each call).
UPDATE search_task AS t
SET attempts = t.attempts + a.n,
    updated_at = now()
FROM unnest(CAST(:groups AS int[]), CAST(:platforms AS text[]), CAST(:pages AS int[]),
            CAST(:counts AS int[])) AS a (group_id, platform, page, n)
WHERE (t.run_id, t.group_id, t.platform, t.page) = (:run, a.group_id, a.platform, a.page)
