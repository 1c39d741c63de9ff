-- The time zone days are cut in.
SELECT snapprice_day_zone()
