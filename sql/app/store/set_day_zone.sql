-- Cut days in this time zone from now on (true when it changed): snapprice_set_day_zone()
-- of 0012_read_path.sql; an unknown zone is an error.
SELECT snapprice_set_day_zone(:zone)
