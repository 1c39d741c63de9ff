-- The stored SKU window statistics, as of today and tomorrow, for the SKUs written since the
-- last refresh; returns how many were computed (-1: all).
SELECT snapprice_refresh_windows()
