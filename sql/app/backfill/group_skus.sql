-- The SKUs of every group of the runs that have responses in [since, until): what a
-- replayed response is matched to.
SELECT m.run_id, m.group_id, array_agg(DISTINCT c.sku)
FROM image_group_member AS m
JOIN catalog_item AS c USING (catalog_item_id)
WHERE m.run_id IN (
    SELECT DISTINCT run_id
    FROM raw_response
    WHERE received_at >= :since AND received_at < :until
)
GROUP BY 1, 2
