-- The staged load's listings when another loader raced listings_fast.sql: one upsert,
-- which waits for the other loader's rows and merges into them. Returns how many rows
-- were written.
WITH up AS (
    INSERT INTO listing AS l (platform, item_id, title, shop, url, pic_url,
                              first_seen, last_seen, first_run_id, last_run_id,
                              location, shop_type, repurchase_rate, pack_unit, pack_count)
    SELECT s.platform, s.item_id, s.title, s.shop, s.url, s.pic_url,
           coalesce(s.first_seen, t.captured_at), t.captured_at, :run, :run,
           s.location, s.shop_type, s.repurchase_rate, s.pack_unit, s.pack_count
    FROM snapprice_stage AS s
    JOIN snapprice_stage_task AS t ON t.seq = s.seq
    WHERE s.newest
    ON CONFLICT (platform, item_id) DO UPDATE
    SET {merge}
    WHERE {changed}
    RETURNING 1
)
SELECT count(*) FROM up
