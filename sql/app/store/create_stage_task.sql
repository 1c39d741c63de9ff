-- The loader's sightings: one row per search response of a load (`seq`, as in
-- snapprice_stage), with when it was captured, its group, archived response, whether the
-- marketplace served it from a cache, the SKUs it matches and whether only pairs whose
-- newest match check passed are matched. Temporary, so private to the connection.
CREATE TEMP TABLE IF NOT EXISTS snapprice_stage_task (
    seq         integer PRIMARY KEY,
    captured_at timestamptz NOT NULL,
    group_id    integer,
    raw_id      bigint,
    cached      boolean NOT NULL,
    checked     boolean NOT NULL,
    skus        text[]  NOT NULL
) ON COMMIT DELETE ROWS
