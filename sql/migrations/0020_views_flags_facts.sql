-- The current views see the price flags and the price facts (0017, 0018, 0019).
-- sku_best_price counts only unflagged prices (price_flag 'ok' or not yet assessed): a
-- deposit, an accessory or a decoy is never a SKU's best price. latest_price shows every
-- listing's newest snapshot as it is, with its flag. Both gain, at the end (the columns
-- before are the contract): the shipping fee, landed_price = effective_price + shipping
-- (NULL when the route gave no shipping fee), the coupon facts, the price per unit, and the
-- seller facts. The flag and facts are read from the newest snapshot by its primary key.

CREATE OR REPLACE VIEW latest_price AS
SELECT l.listing_id, l.platform, l.item_id, l.title, l.shop, l.url, c.run_id, c.captured_at,
       c.price_low, c.price_high, c.promo_price,
       CAST(effective_price(c.promo_price, c.price_low) AS numeric(18,4)) AS effective_price,
       c.currency, c.sales_lower_bound, c.sales_text, c.rank, c.score,
       s.price_flag, s.shipping_fee,
       CAST(effective_price(c.promo_price, c.price_low) + s.shipping_fee AS numeric(18,4)) AS landed_price,
       s.coupon_amount, s.price_after_coupon,
       unit_price(effective_price(c.promo_price, c.price_low), l.pack_unit, l.pack_count) AS unit_price,
       l.location, l.shop_type
FROM listing_current AS c
JOIN listing AS l USING (listing_id)
LEFT JOIN price_snapshot AS s
       ON s.listing_id = c.listing_id AND s.captured_at = c.captured_at AND s.run_id = c.run_id;

CREATE OR REPLACE VIEW sku_best_price AS
SELECT DISTINCT ON (t.sku, t.platform)
    t.sku, t.platform, t.listing_id, t.item_id, t.title, t.shop, t.url,
    t.effective_price, t.price_low, t.promo_price, t.currency, t.sales_lower_bound,
    t.score, t.run_id, t.captured_at,
    t.shipping_fee, t.landed_price, t.unit_price, t.location, t.shop_type
FROM (
    SELECT m.sku, l.platform, m.listing_id, l.item_id, l.title, l.shop, l.url,
           CAST(effective_price(c.promo_price, c.price_low) AS numeric(18,4)) AS effective_price,
           c.price_low, c.promo_price, c.currency, c.sales_lower_bound, m.best_score AS score,
           c.run_id, c.captured_at, s.shipping_fee,
           CAST(effective_price(c.promo_price, c.price_low) + s.shipping_fee AS numeric(18,4)) AS landed_price,
           unit_price(effective_price(c.promo_price, c.price_low), l.pack_unit, l.pack_count) AS unit_price,
           l.location, l.shop_type,
           max(c.run_id) OVER (PARTITION BY m.sku, l.platform) AS newest_run
    FROM match AS m
    JOIN listing AS l ON l.listing_id = m.listing_id
    JOIN listing_current AS c ON c.listing_id = m.listing_id
    LEFT JOIN price_snapshot AS s
           ON s.listing_id = c.listing_id AND s.captured_at = c.captured_at AND s.run_id = c.run_id
    WHERE coalesce(s.price_flag, 'ok') = 'ok'
) AS t
WHERE t.run_id = t.newest_run
ORDER BY t.sku, t.platform, t.effective_price ASC, t.listing_id;
