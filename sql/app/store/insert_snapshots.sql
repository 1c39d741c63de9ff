-- One snapshot per staged listing for the run: from its first sighting of the load
-- (`snap`), with that sighting's capture time, group and archived response. A listing
-- already captured in this run keeps its first snapshot: (listing, run) is unique by
-- contract, which the loader enforces here, under its per-run lock, as the partitioned
-- table cannot. One statement for the whole load, so the read path's statement triggers
-- run once per load. Returns the snapshots inserted per sighting (`seq`, count): every
-- row of `j` is inserted.
WITH j AS MATERIALIZED (
    SELECT l.listing_id, s.seq, t.captured_at, t.cached, t.group_id, t.raw_id, s.price_low,
           s.price_high, s.promo_price, s.original_price, s.currency, s.sales_lower_bound,
           s.sales_text, s.rank, s.score, s.shipping_fee, s.coupon_amount, s.price_after_coupon
    FROM snapprice_stage AS s
    JOIN snapprice_stage_task AS t ON t.seq = s.seq
    JOIN listing AS l ON l.platform = s.platform AND l.item_id = s.item_id
    WHERE s.snap
      AND NOT EXISTS (SELECT 1 FROM price_snapshot AS p WHERE p.listing_id = l.listing_id AND p.run_id = :run)
), ins AS (
    INSERT INTO price_snapshot (listing_id, run_id, captured_at, price_low, price_high,
                                promo_price, original_price, currency, sales_lower_bound, sales_text, rank,
                                score, cached, group_id, raw_id, shipping_fee, coupon_amount,
                                price_after_coupon)
    SELECT j.listing_id, :run, j.captured_at, j.price_low, j.price_high, j.promo_price,
           j.original_price, j.currency, j.sales_lower_bound, j.sales_text, j.rank,
           j.score, j.cached, j.group_id, j.raw_id, j.shipping_fee, j.coupon_amount, j.price_after_coupon
    FROM j
)
SELECT seq, count(*) FROM j GROUP BY seq
