-- Remember what each result picture URL served (a newer fetch replaces an older one).
INSERT INTO picture_url AS p (url, content_digest, fetched_at)
SELECT x.url, x.content_digest, x.fetched_at
FROM unnest(CAST(:urls AS text[]), CAST(:digests AS text[]), CAST(:ats AS timestamptz[]))
     AS x(url, content_digest, fetched_at)
ON CONFLICT (url) DO UPDATE
SET content_digest = excluded.content_digest, fetched_at = excluded.fetched_at
WHERE excluded.fetched_at > p.fetched_at
