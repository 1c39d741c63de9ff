-- A ban: every process of this budget waits until it is over (never shortened by a later one).
INSERT INTO {t} AS b (key, tat, paused_until)
VALUES (%(key)s, clock_timestamp(), clock_timestamp() + make_interval(secs => %(s)s))
ON CONFLICT (key) DO UPDATE
SET paused_until = GREATEST(b.paused_until, EXCLUDED.paused_until)
RETURNING 1
