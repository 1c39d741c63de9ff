-- Price facts the routes give beside the price, kept as columns (docs/schema.md):
-- per snapshot the shipping fee (gateway post_fee, TOP post_fee, Aliyun RealPostFee),
-- the coupon amount and the price after it (Aliyun CouponAmount / PriceAfterCoupon, TOP
-- coupon_amount); per listing the seller's location, the kind of shop (Tmall or Taobao,
-- from Aliyun/TOP UserType) and the 1688 repurchase rate. NULL: the route did not say.
ALTER TABLE price_snapshot
    ADD COLUMN shipping_fee       numeric(18,4) CHECK (shipping_fee >= 0),
    ADD COLUMN coupon_amount      numeric(18,4) CHECK (coupon_amount >= 0),
    ADD COLUMN price_after_coupon numeric(18,4) CHECK (price_after_coupon >= 0);
ALTER TABLE listing
    ADD COLUMN location        text,
    ADD COLUMN shop_type       text CHECK (shop_type IN ('tmall', 'taobao')),
    ADD COLUMN repurchase_rate real CHECK (repurchase_rate >= 0 AND repurchase_rate <= 1);
