-- listing_current carries each listing's newest price flag and price facts, so latest_price and
-- sku_best_price no longer probe price_snapshot (since 0020 they joined it by primary key per
-- listing, which the planner turned into a hash join over every snapshot: 5–9 s for all SKUs'
-- best prices at 6.8 M snapshots, against a goal of < 1 s).
--
-- And an UPDATE of snapshots rebuilds a listing's current row and price changes only when a
-- price column changed: since 0017 every run's end sets the flags of all its snapshots, and
-- the old trigger rebuilt every listing of the run from its whole history each time. A flag
-- or a fact set in place now just follows into listing_current.

ALTER TABLE listing_current
    ADD COLUMN price_flag         text,
    ADD COLUMN shipping_fee       numeric(18,4),
    ADD COLUMN coupon_amount      numeric(18,4),
    ADD COLUMN price_after_coupon numeric(18,4);

UPDATE listing_current AS c
SET price_flag = s.price_flag, shipping_fee = s.shipping_fee, coupon_amount = s.coupon_amount,
    price_after_coupon = s.price_after_coupon
FROM price_snapshot AS s
WHERE s.listing_id = c.listing_id AND s.captured_at = c.captured_at AND s.run_id = c.run_id;

CREATE OR REPLACE FUNCTION snapprice_rebuild_listings(ids bigint[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    IF ids IS NULL THEN
        DELETE FROM listing_current;
        DELETE FROM listing_change;
        INSERT INTO listing_current (listing_id, run_id, captured_at, price_low, price_high, promo_price,
                                     currency, sales_lower_bound, sales_text, rank, score,
                                     price_flag, shipping_fee, coupon_amount, price_after_coupon)
        SELECT DISTINCT ON (s.listing_id) s.listing_id, s.run_id, s.captured_at, s.price_low, s.price_high,
               s.promo_price, s.currency, s.sales_lower_bound, s.sales_text, s.rank, s.score,
               s.price_flag, s.shipping_fee, s.coupon_amount, s.price_after_coupon
        FROM price_snapshot AS s
        ORDER BY s.listing_id, s.captured_at DESC, s.run_id DESC;
    ELSE
        DELETE FROM listing_current WHERE listing_id = ANY (ids);
        DELETE FROM listing_change WHERE listing_id = ANY (ids);
        INSERT INTO listing_current (listing_id, run_id, captured_at, price_low, price_high, promo_price,
                                     currency, sales_lower_bound, sales_text, rank, score,
                                     price_flag, shipping_fee, coupon_amount, price_after_coupon)
        SELECT s.listing_id, s.run_id, s.captured_at, s.price_low, s.price_high, s.promo_price, s.currency,
               s.sales_lower_bound, s.sales_text, s.rank, s.score,
               s.price_flag, s.shipping_fee, s.coupon_amount, s.price_after_coupon
        FROM unnest(ids) AS i(id)
        CROSS JOIN LATERAL (
            SELECT * FROM price_snapshot AS p WHERE p.listing_id = i.id
            ORDER BY p.captured_at DESC, p.run_id DESC LIMIT 1
        ) AS s;
    END IF;
    INSERT INTO listing_change (listing_id, captured_at, run_id, prev_captured_at, prev_price, price, currency)
    SELECT listing_id, captured_at, run_id, prev_at, prev_price, price, currency
    FROM (
        SELECT s.listing_id, s.captured_at, s.run_id, s.currency,
               CAST(effective_price(s.promo_price, s.price_low) AS numeric(18,4)) AS price,
               lag(effective_price(s.promo_price, s.price_low)) OVER w AS prev_price,
               lag(s.captured_at) OVER w AS prev_at
        FROM price_snapshot AS s
        WHERE ids IS NULL OR s.listing_id = ANY (ids)
        WINDOW w AS (PARTITION BY s.listing_id ORDER BY s.captured_at, s.run_id)
    ) AS t
    WHERE prev_price IS NOT NULL AND price IS DISTINCT FROM prev_price;
END
$fn$;

CREATE OR REPLACE FUNCTION snapprice_snapshots_inserted() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    late bigint[];
BEGIN
    SELECT array_agg(DISTINCT n.listing_id) INTO late
    FROM new_rows AS n JOIN listing_current AS c USING (listing_id)
    WHERE (n.captured_at, n.run_id) <= (c.captured_at, c.run_id);

    INSERT INTO listing_change (listing_id, captured_at, run_id, prev_captured_at, prev_price, price, currency)
    SELECT listing_id, captured_at, run_id, prev_at, prev_price, price, currency
    FROM (
        SELECT q.*, lag(q.price) OVER w AS prev_price, lag(q.captured_at) OVER w AS prev_at
        FROM (
            SELECT n.listing_id, n.captured_at, n.run_id, n.currency, false AS known,
                   CAST(effective_price(n.promo_price, n.price_low) AS numeric(18,4)) AS price
            FROM new_rows AS n
            WHERE late IS NULL OR n.listing_id <> ALL (late)
            UNION ALL
            SELECT c.listing_id, c.captured_at, c.run_id, c.currency, true,
                   CAST(effective_price(c.promo_price, c.price_low) AS numeric(18,4))
            FROM listing_current AS c
            WHERE c.listing_id IN (SELECT listing_id FROM new_rows)
              AND (late IS NULL OR c.listing_id <> ALL (late))
        ) AS q
        WINDOW w AS (PARTITION BY q.listing_id ORDER BY q.captured_at, q.run_id)
    ) AS t
    WHERE NOT known AND prev_price IS NOT NULL AND price IS DISTINCT FROM prev_price;

    INSERT INTO listing_current AS c (listing_id, run_id, captured_at, price_low, price_high, promo_price,
                                      currency, sales_lower_bound, sales_text, rank, score,
                                      price_flag, shipping_fee, coupon_amount, price_after_coupon)
    SELECT DISTINCT ON (n.listing_id) n.listing_id, n.run_id, n.captured_at, n.price_low, n.price_high,
           n.promo_price, n.currency, n.sales_lower_bound, n.sales_text, n.rank, n.score,
           n.price_flag, n.shipping_fee, n.coupon_amount, n.price_after_coupon
    FROM new_rows AS n
    WHERE late IS NULL OR n.listing_id <> ALL (late)
    ORDER BY n.listing_id, n.captured_at DESC, n.run_id DESC
    ON CONFLICT (listing_id) DO UPDATE
    SET run_id = excluded.run_id, captured_at = excluded.captured_at, price_low = excluded.price_low,
        price_high = excluded.price_high, promo_price = excluded.promo_price, currency = excluded.currency,
        sales_lower_bound = excluded.sales_lower_bound, sales_text = excluded.sales_text,
        rank = excluded.rank, score = excluded.score, price_flag = excluded.price_flag,
        shipping_fee = excluded.shipping_fee, coupon_amount = excluded.coupon_amount,
        price_after_coupon = excluded.price_after_coupon
    WHERE (excluded.captured_at, excluded.run_id) > (c.captured_at, c.run_id);

    IF late IS NOT NULL THEN
        PERFORM snapprice_rebuild_listings(late);
    END IF;

    INSERT INTO sku_window_dirty (sku)
    SELECT DISTINCT m.sku FROM match AS m
    WHERE m.listing_id IN (SELECT listing_id FROM new_rows)
      AND NOT EXISTS (SELECT 1 FROM sku_window_dirty AS d WHERE d.sku = m.sku);
    RETURN NULL;
END
$fn$;

-- Snapshots updated in place: the listings whose prices (or keys) changed are rebuilt; the
-- current rows take the new flag and facts; the SKUs' windows are recomputed either way (a
-- flag moves a price in or out of them).
CREATE FUNCTION snapprice_snapshots_updated() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    ids bigint[];
BEGIN
    SELECT array_agg(DISTINCT o.listing_id) INTO ids
    FROM old_rows AS o
    LEFT JOIN new_rows AS n
           ON n.listing_id = o.listing_id AND n.captured_at = o.captured_at AND n.run_id = o.run_id
    WHERE n.listing_id IS NULL
       OR (o.price_low, o.price_high, o.promo_price, o.currency, o.sales_lower_bound, o.sales_text, o.rank,
           o.score)
          IS DISTINCT FROM
          (n.price_low, n.price_high, n.promo_price, n.currency, n.sales_lower_bound, n.sales_text, n.rank,
           n.score);
    IF ids IS NOT NULL THEN
        PERFORM snapprice_rebuild_listings(ids);
    END IF;
    UPDATE listing_current AS c
    SET price_flag = n.price_flag, shipping_fee = n.shipping_fee, coupon_amount = n.coupon_amount,
        price_after_coupon = n.price_after_coupon
    FROM new_rows AS n
    WHERE c.listing_id = n.listing_id AND c.captured_at = n.captured_at AND c.run_id = n.run_id
      AND (c.price_flag, c.shipping_fee, c.coupon_amount, c.price_after_coupon)
          IS DISTINCT FROM (n.price_flag, n.shipping_fee, n.coupon_amount, n.price_after_coupon);
    INSERT INTO sku_window_dirty (sku)
    SELECT DISTINCT m.sku FROM match AS m
    WHERE m.listing_id IN (SELECT listing_id FROM new_rows)
      AND NOT EXISTS (SELECT 1 FROM sku_window_dirty AS d WHERE d.sku = m.sku);
    RETURN NULL;
END
$fn$;

DROP TRIGGER snapprice_snapshots_updated ON price_snapshot;
CREATE TRIGGER snapprice_snapshots_updated AFTER UPDATE ON price_snapshot
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION snapprice_snapshots_updated();

-- The views of 0020, reading the flag and the facts from listing_current.
CREATE OR REPLACE VIEW latest_price AS
SELECT l.listing_id, l.platform, l.item_id, l.title, l.shop, l.url, c.run_id, c.captured_at,
       c.price_low, c.price_high, c.promo_price,
       CAST(effective_price(c.promo_price, c.price_low) AS numeric(18,4)) AS effective_price,
       c.currency, c.sales_lower_bound, c.sales_text, c.rank, c.score,
       c.price_flag, c.shipping_fee,
       CAST(effective_price(c.promo_price, c.price_low) + c.shipping_fee AS numeric(18,4)) AS landed_price,
       c.coupon_amount, c.price_after_coupon,
       unit_price(effective_price(c.promo_price, c.price_low), l.pack_unit, l.pack_count) AS unit_price,
       l.location, l.shop_type
FROM listing_current AS c
JOIN listing AS l USING (listing_id);

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
           c.run_id, c.captured_at, c.shipping_fee,
           CAST(effective_price(c.promo_price, c.price_low) + c.shipping_fee AS numeric(18,4)) AS landed_price,
           unit_price(effective_price(c.promo_price, c.price_low), l.pack_unit, l.pack_count) AS unit_price,
           l.location, l.shop_type,
           max(c.run_id) OVER (PARTITION BY m.sku, l.platform) AS newest_run
    FROM match AS m
    JOIN listing AS l ON l.listing_id = m.listing_id
    JOIN listing_current AS c ON c.listing_id = m.listing_id
    WHERE coalesce(c.price_flag, 'ok') = 'ok'
) AS t
WHERE t.run_id = t.newest_run
ORDER BY t.sku, t.platform, t.effective_price ASC, t.listing_id;
