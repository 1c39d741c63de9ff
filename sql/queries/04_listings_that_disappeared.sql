-- Listings that disappeared: seen in an earlier run of a platform but not in that
-- platform's newest run (a listing sold out, delisted, or no longer a visual match).
WITH last_run AS (
    SELECT l.platform, max(lp.run_id) AS run_id
    FROM latest_price AS lp JOIN listing AS l USING (listing_id)
    GROUP BY l.platform
)
SELECT l.platform, l.item_id, l.title, l.shop, l.last_seen, lp.effective_price AS last_price
FROM listing AS l
JOIN last_run AS r ON r.platform = l.platform
JOIN latest_price AS lp ON lp.listing_id = l.listing_id
WHERE l.last_run_id < r.run_id
ORDER BY l.last_seen DESC, l.platform, l.item_id;
