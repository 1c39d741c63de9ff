-- The near-duplicate groups of two or more pictures of the newest run that stored groups,
-- biggest first: a bounded number of groups (with a SKU, only the group holding it) and of
-- members of each, the representative first. Each member comes with its picture's cached
-- verdict against the representative's (pair_verdict under the current verifier key, NULL
-- where none is kept) and its local features (image_feature, for a grey thumbnail).
-- `n_groups` counts every multi-image group of the run (or of the SKU), shown or not.
WITH last AS (
    SELECT max(run_id) AS run_id FROM image_group
), multi AS (
    SELECT g.run_id, g.group_id, g.n_members, g.representative_id, g.representative_digest,
           count(*) OVER () AS n_groups
    FROM image_group AS g
    JOIN last ON g.run_id = last.run_id
    WHERE g.n_members > 1
      AND (CAST(:sku AS text) IS NULL OR EXISTS (
          SELECT 1
          FROM image_group_member AS m
          JOIN catalog_item AS c ON c.catalog_item_id = m.catalog_item_id
          WHERE m.run_id = g.run_id AND m.group_id = g.group_id AND c.sku = CAST(:sku AS text)))
    ORDER BY g.n_members DESC, g.group_id
    LIMIT :groups
), members AS (
    SELECT s.run_id, s.group_id, s.n_members, s.n_groups, s.representative_digest, c.sku, c.image_ref,
           c.content_digest, m.distance, m.catalog_item_id = s.representative_id AS is_representative,
           row_number() OVER (PARTITION BY s.group_id
                              ORDER BY m.catalog_item_id = s.representative_id DESC, c.sku, c.image_ref) AS k
    FROM multi AS s
    JOIN image_group_member AS m ON m.run_id = s.run_id AND m.group_id = s.group_id
    JOIN catalog_item AS c ON c.catalog_item_id = m.catalog_item_id
)
SELECT x.run_id, x.group_id, x.n_members, x.n_groups, x.sku, x.image_ref, x.content_digest, x.distance,
       x.is_representative, v.same, v.inliers, v.colour, v.agreement, f.data AS features
FROM members AS x
LEFT JOIN pair_verdict AS v
       ON v.verifier = (SELECT k.verifier FROM pair_verifier AS k WHERE k.key = CAST(:verifier AS text))
      AND x.content_digest <> x.representative_digest
      AND v.digest_a = least(decode(x.content_digest, 'hex'), decode(x.representative_digest, 'hex'))
      AND v.digest_b = greatest(decode(x.content_digest, 'hex'), decode(x.representative_digest, 'hex'))
LEFT JOIN image_feature AS f
       ON f.content_digest = x.content_digest AND f.feature_version = CAST(:feature_version AS integer)
WHERE x.k <= :members
ORDER BY x.n_members DESC, x.group_id, x.k
