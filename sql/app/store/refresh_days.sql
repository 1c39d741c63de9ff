-- The daily rollup (sku_day) for the (SKU, day) pairs written since the last refresh;
-- returns how many pairs were recomputed (-1: all, when the rollup was not built).
SELECT snapprice_refresh_days()
