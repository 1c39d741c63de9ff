-- One batch of archived raw responses received before the cutoff, oldest first (through
-- raw_response_received_idx); each batch is its own short transaction, so a run archiving
-- at the same time is never held up for long.
DELETE FROM raw_response
WHERE raw_id IN (
    SELECT raw_id
    FROM raw_response
    WHERE received_at < :cutoff
    ORDER BY received_at
    LIMIT :batch
)
