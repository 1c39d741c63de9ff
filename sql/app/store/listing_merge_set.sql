-- Fragment: how a load's sightings of a listing (`excluded`: the newest, captured at
-- excluded.last_seen by run excluded.last_run_id; the earliest at excluded.first_seen)
-- merge into a stored listing `l`. Shared by listings_fast.sql
-- and listings_upsert.sql, so that both paths merge alike.
-- Title, shop and picture come from the newest capture, so that loading an older response
-- later (a replay) does not bring back what the listing showed before.
title = CASE WHEN excluded.last_seen >= l.last_seen THEN coalesce(excluded.title, l.title) ELSE l.title END,
shop = CASE WHEN excluded.last_seen >= l.last_seen THEN coalesce(excluded.shop, l.shop) ELSE l.shop END,
url = coalesce(l.url, excluded.url),
pic_url = CASE WHEN excluded.last_seen >= l.last_seen THEN coalesce(excluded.pic_url, l.pic_url) ELSE l.pic_url END,
location = CASE WHEN excluded.last_seen >= l.last_seen THEN coalesce(excluded.location, l.location) ELSE l.location END,
shop_type = CASE WHEN excluded.last_seen >= l.last_seen THEN coalesce(excluded.shop_type, l.shop_type) ELSE l.shop_type END,
-- The pack follows the title it was read from (a title that no longer says clears it).
pack_unit = CASE WHEN excluded.last_seen >= l.last_seen AND excluded.title IS NOT NULL
                 THEN excluded.pack_unit ELSE l.pack_unit END,
pack_count = CASE WHEN excluded.last_seen >= l.last_seen AND excluded.title IS NOT NULL
                  THEN excluded.pack_count ELSE l.pack_count END,
repurchase_rate = CASE WHEN excluded.last_seen >= l.last_seen
                       THEN coalesce(excluded.repurchase_rate, l.repurchase_rate) ELSE l.repurchase_rate END,
first_seen = least(l.first_seen, excluded.first_seen),
last_seen = greatest(l.last_seen, excluded.last_seen),
first_run_id = CASE WHEN excluded.first_seen < l.first_seen THEN excluded.first_run_id ELSE l.first_run_id END,
last_run_id = CASE WHEN excluded.last_seen >= l.last_seen THEN excluded.last_run_id ELSE l.last_run_id END
