-- Backfill replay after a parser fix: rewrite the values of the run's snapshots that came
-- from the same archived response (the sighting's raw_id), where they differ from the
-- staged ones. The picture score is not in the archive: a replay keeps the one stored.
-- Returns the snapshots rewritten per sighting (`seq`, count).
WITH up AS (
    UPDATE price_snapshot AS p
    SET price_low = s.price_low,
        price_high = s.price_high,
        promo_price = s.promo_price,
        original_price = s.original_price,
        currency = s.currency,
        sales_lower_bound = s.sales_lower_bound,
        sales_text = s.sales_text,
        rank = s.rank,
        score = coalesce(s.score, p.score),
        shipping_fee = s.shipping_fee,
        coupon_amount = s.coupon_amount,
        price_after_coupon = s.price_after_coupon
    FROM snapprice_stage AS s
    JOIN snapprice_stage_task AS t ON t.seq = s.seq
    JOIN listing AS l ON l.platform = s.platform AND l.item_id = s.item_id
    WHERE p.listing_id = l.listing_id
      AND p.run_id = :run
      AND p.raw_id IS NOT DISTINCT FROM t.raw_id  -- only what this response produced
      AND (p.price_low, p.price_high, p.promo_price, p.original_price, p.currency,
           p.sales_lower_bound, p.sales_text, p.rank, p.score, p.shipping_fee, p.coupon_amount,
           p.price_after_coupon)
          IS DISTINCT FROM
          (s.price_low, s.price_high, s.promo_price, s.original_price, s.currency,
           s.sales_lower_bound, s.sales_text, s.rank, coalesce(s.score, p.score), s.shipping_fee,
           s.coupon_amount, s.price_after_coupon)
    RETURNING s.seq
)
SELECT seq, count(*) FROM up GROUP BY seq
