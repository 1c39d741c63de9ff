-- Sales leaders: listings with the most sales (lower bound of the platform's figure)
-- in their latest snapshot, with the SKUs they match.
SELECT lp.platform, lp.item_id, lp.title, lp.shop, lp.sales_lower_bound, lp.sales_text,
       lp.effective_price, string_agg(DISTINCT m.sku, ', ') AS skus
FROM latest_price AS lp
LEFT JOIN match AS m USING (listing_id)
WHERE lp.sales_lower_bound IS NOT NULL
GROUP BY lp.platform, lp.item_id, lp.title, lp.shop, lp.sales_lower_bound, lp.sales_text,
         lp.effective_price
ORDER BY lp.sales_lower_bound DESC
LIMIT 50;
