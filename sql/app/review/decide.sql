-- A person's decision on one SKU ↔ listing pair; the newest decision replaces an earlier one.
INSERT INTO match_decision AS d (sku, platform, item_id, decision, note, source)
VALUES (:sku, :platform, :item_id, :decision, :note, :source)
ON CONFLICT (sku, platform, item_id) DO UPDATE
SET decision = excluded.decision, note = excluded.note, source = excluded.source, decided_at = now()
