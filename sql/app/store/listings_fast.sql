-- The staged load's listings, fast path: new listings by plain INSERT (no speculative
-- insertion per row), known ones by UPDATE; returns how many rows were written.
-- Both parts see the snapshot taken before the statement, so the UPDATE only touches rows
-- that were there. A listing that another loader adds meanwhile makes the INSERT fail on
-- the unique key; the loader then runs listings_upsert.sql for the whole load instead.
-- One row per listing: its newest sighting of the load (`newest`), first seen at its
-- earliest. The stage rows are read as `excluded`, the name they have in the upsert, so
-- that the merge rules (the placeholders) read the same in both.
WITH new AS (
    INSERT INTO listing AS l (platform, item_id, title, shop, url, pic_url,
                              first_seen, last_seen, first_run_id, last_run_id,
                              location, shop_type, repurchase_rate, pack_unit, pack_count)
    SELECT s.platform, s.item_id, s.title, s.shop, s.url, s.pic_url,
           coalesce(s.first_seen, t.captured_at), t.captured_at, :run, :run,
           s.location, s.shop_type, s.repurchase_rate, s.pack_unit, s.pack_count
    FROM snapprice_stage AS s
    JOIN snapprice_stage_task AS t ON t.seq = s.seq
    WHERE s.newest
      AND NOT EXISTS (SELECT 1 FROM listing AS o WHERE o.platform = s.platform AND o.item_id = s.item_id)
    RETURNING 1
), old AS (
    UPDATE listing AS l
    SET {merge}
    FROM (
        SELECT s.platform, s.item_id, s.title, s.shop, s.url, s.pic_url,
               coalesce(s.first_seen, t.captured_at) AS first_seen, t.captured_at AS last_seen,
               CAST(:run AS bigint) AS first_run_id, CAST(:run AS bigint) AS last_run_id,
               s.location, s.shop_type, s.repurchase_rate, s.pack_unit, s.pack_count
        FROM snapprice_stage AS s
        JOIN snapprice_stage_task AS t ON t.seq = s.seq
        WHERE s.newest
    ) AS excluded
    WHERE l.platform = excluded.platform AND l.item_id = excluded.item_id
      AND {changed}
    RETURNING 1
)
SELECT (SELECT count(*) FROM new) + (SELECT count(*) FROM old)
