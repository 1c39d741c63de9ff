-- Cheapest platform per SKU right now, with the gap to the dearest platform in percent.
SELECT sku,
       (array_agg(platform ORDER BY effective_price))[1]        AS cheapest_platform,
       min(effective_price)                                     AS cheapest_price,
       max(effective_price)                                     AS dearest_price,
       round(100 * (max(effective_price) - min(effective_price)) / nullif(min(effective_price), 0), 1)
                                                                AS gap_pct,
       count(*)                                                 AS platforms
FROM sku_best_price
GROUP BY sku
ORDER BY gap_pct DESC NULLS LAST, sku;
