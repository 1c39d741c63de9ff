-- A catalog row, inserted or refreshed (the newest catalog wins; a known image digest is
-- kept when this catalog has none).
INSERT INTO catalog_item AS c (sku, image_ref, title, cat, content_digest, extra, last_run_id)
VALUES (:sku, :ref, :title, :cat, :digest, CAST(:extra AS jsonb), :run)
ON CONFLICT (sku, image_ref) DO UPDATE
SET title = excluded.title,
    cat = excluded.cat,
    content_digest = coalesce(excluded.content_digest, c.content_digest),
    extra = excluded.extra,
    last_seen = now(),
    last_run_id = excluded.last_run_id
