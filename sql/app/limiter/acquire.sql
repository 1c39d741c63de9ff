-- Reserve the next free slot of a budget in one atomic statement (generic cell rate algorithm)
-- and return how many seconds from now it starts; it comes after any ban already announced.
INSERT INTO {t} AS b (key, tat)
VALUES (%(key)s, clock_timestamp() + make_interval(secs => %(step)s))
ON CONFLICT (key) DO UPDATE
SET tat = GREATEST(b.tat, b.paused_until, clock_timestamp()) + make_interval(secs => %(step)s)
RETURNING EXTRACT(EPOCH FROM b.tat - clock_timestamp())::float8 - %(step)s
