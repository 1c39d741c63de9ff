-- A perceptual hash record; the first one stored for a digest and version stays.
INSERT INTO image_hash (content_digest, hash_version, phash, colour, width, height, nbytes, dup)
VALUES (:digest, :version, :phash, :colour, :width, :height, :nbytes, :dup)
ON CONFLICT DO NOTHING
