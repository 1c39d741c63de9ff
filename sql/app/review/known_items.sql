-- Which of these (platform, item_id) pairs are stored listings.
SELECT l.platform, l.item_id
FROM listing AS l
WHERE (l.platform, l.item_id) IN (SELECT * FROM unnest(CAST(:platforms AS text[]), CAST(:items AS text[])))
