-- Cached result pictures: the content digest each URL served, when fetched recently enough.
SELECT url, content_digest
FROM picture_url
WHERE url = ANY(CAST(:urls AS text[]))
  AND fetched_at >= now() - make_interval(secs => CAST(:max_age AS double precision))
