-- The price flags of one run's snapshots, in order of precedence:
--   bait_title   the title says the price is not the product's (a deposit, a pre-order, a
--                "change the price after ordering" or price-difference link);
--   suspect_low  below low_ratio of the median price of a SKU it is matched to, over that
--                SKU's listings in this run (at least min_listings of them, bait titles left
--                out), or below own_ratio of the listing's own median of its earlier
--                unflagged snapshots in the last own_days days;
--   suspect_high above high_ratio of such a SKU median;
--   ok           otherwise.
-- Returns the number of snapshots whose flag changed.
WITH snap AS (
    SELECT s.listing_id, s.captured_at, effective_price(s.promo_price, s.price_low) AS price,
           coalesce(coalesce(l.title, '') ~ CAST(:bait_pattern AS text), false) AS bait
    FROM price_snapshot AS s
    JOIN listing AS l USING (listing_id)
    WHERE s.run_id = :run
), sku_median AS (
    SELECT m.sku, percentile_cont(0.5) WITHIN GROUP (ORDER BY sn.price) AS med
    FROM snap AS sn
    JOIN match AS m ON m.listing_id = sn.listing_id
    WHERE NOT sn.bait AND sn.price > 0
    GROUP BY m.sku
    HAVING count(*) >= CAST(:min_listings AS integer)
), vs_sku AS (
    SELECT sn.listing_id, min(sn.price / k.med) AS lo, max(sn.price / k.med) AS hi
    FROM snap AS sn
    JOIN match AS m ON m.listing_id = sn.listing_id
    JOIN sku_median AS k ON k.sku = m.sku
    WHERE k.med > 0
    GROUP BY sn.listing_id
), own AS (
    SELECT sn.listing_id,
           (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY effective_price(h.promo_price, h.price_low))
            FROM price_snapshot AS h
            WHERE h.listing_id = sn.listing_id AND h.captured_at < sn.captured_at
              AND h.captured_at >= sn.captured_at - make_interval(days => CAST(:own_days AS integer))
              AND h.price_flag = 'ok') AS med
    FROM snap AS sn
), verdict AS (
    SELECT sn.listing_id, sn.captured_at,
           CASE
               WHEN sn.bait THEN 'bait_title'
               WHEN v.lo < CAST(:low_ratio AS numeric) THEN 'suspect_low'
               WHEN o.med > 0 AND sn.price < o.med * CAST(:own_ratio AS numeric) THEN 'suspect_low'
               WHEN v.hi > CAST(:high_ratio AS numeric) THEN 'suspect_high'
               ELSE 'ok'
           END AS flag
    FROM snap AS sn
    LEFT JOIN vs_sku AS v USING (listing_id)
    LEFT JOIN own AS o USING (listing_id)
), changed AS (
    UPDATE price_snapshot AS p
    SET price_flag = v.flag
    FROM verdict AS v
    WHERE p.run_id = :run AND p.listing_id = v.listing_id AND p.captured_at = v.captured_at
      AND p.price_flag IS DISTINCT FROM v.flag
    RETURNING 1
)
SELECT count(*) FROM changed
