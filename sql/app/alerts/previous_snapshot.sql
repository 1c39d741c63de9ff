-- Fragment: the snapshot of listing `c` just before `c`, for the rules that compare with it
-- (drop_vs_previous, rise_vs_previous, reappeared); joined LATERAL. Flagged prices are skipped.
SELECT s.run_id, s.captured_at, effective_price(s.promo_price, s.price_low) AS price
FROM price_snapshot AS s
WHERE s.listing_id = c.listing_id AND s.captured_at < c.captured_at AND coalesce(s.price_flag, 'ok') = 'ok'
ORDER BY s.captured_at DESC
LIMIT 1
