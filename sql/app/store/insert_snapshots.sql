-- One snapshot per staged listing for the run. A listing already captured in this run
-- keeps its first snapshot: (listing, run) is unique by contract, which the loader
-- enforces here, under its per-run lock, as the partitioned table cannot.
INSERT INTO price_snapshot (listing_id, run_id, captured_at, price_low, price_high,
                            promo_price, original_price, currency, sales_lower_bound, sales_text, rank,
                            score, cached, group_id, raw_id, shipping_fee, coupon_amount,
                            price_after_coupon)
SELECT j.listing_id, :run, :at, j.price_low, j.price_high, j.promo_price,
       j.original_price, j.currency, j.sales_lower_bound, j.sales_text, j.rank,
       j.score, :cached, :group, :raw, j.shipping_fee, j.coupon_amount, j.price_after_coupon
FROM (
    SELECT l.listing_id, s.*
    FROM snapprice_stage AS s
    JOIN listing AS l ON l.platform = s.platform AND l.item_id = s.item_id
) AS j
WHERE NOT EXISTS (SELECT 1 FROM price_snapshot AS p WHERE p.listing_id = j.listing_id AND p.run_id = :run)
