-- Near-duplicate descriptor per image (snapprice.dupfeatures.describe, HASH_VERSION 3 on):
-- crop-window hashes and a small colour thumbnail, used to find and verify duplicate pairs
-- that the 64-bit pHash alone misses (crops, differently trimmed pads). NULL for older rows.
ALTER TABLE image_hash ADD COLUMN IF NOT EXISTS dup bytea CHECK (octet_length(dup) <= 1024);
