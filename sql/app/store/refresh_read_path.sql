-- Rebuild listing_current, listing_change and the stored windows from price_snapshot.
SELECT snapprice_refresh()
