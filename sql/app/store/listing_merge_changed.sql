-- Fragment: whether listing_merge_set.sql can change the stored listing `l`; listings it
-- cannot change are left alone (an UPDATE of an unchanged row still writes a new version
-- of it). True whenever the merge changes something; also for some older captures that
-- change nothing, which costs a write and loses nothing.
(l.title, l.shop, l.url, l.pic_url, l.first_seen, l.last_seen, l.last_run_id,
 l.location, l.shop_type, l.repurchase_rate, l.pack_unit, l.pack_count)
IS DISTINCT FROM
(coalesce(excluded.title, l.title), coalesce(excluded.shop, l.shop), coalesce(l.url, excluded.url),
 coalesce(excluded.pic_url, l.pic_url), least(l.first_seen, excluded.first_seen),
 greatest(l.last_seen, excluded.last_seen), excluded.last_run_id,
 coalesce(excluded.location, l.location), coalesce(excluded.shop_type, l.shop_type),
 coalesce(excluded.repurchase_rate, l.repurchase_rate),
 CASE WHEN excluded.title IS NOT NULL THEN excluded.pack_unit ELSE l.pack_unit END,
 CASE WHEN excluded.title IS NOT NULL THEN excluded.pack_count ELSE l.pack_count END)
