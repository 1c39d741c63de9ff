-- Price per unit: what one listing sells, read from its title when the title says clearly
-- (snapprice.units: "2件装", "550ml*24瓶", "1kg"; never a model number, a year or a size).
-- pack_unit: 'piece', 'ml' or 'g'; pack_count: how many of it. NULL: the title does not say.
-- unit_price(price, pack_unit, pack_count): per piece, per litre or per kilogram.
ALTER TABLE listing
    ADD COLUMN pack_unit  text    CHECK (pack_unit IN ('piece', 'ml', 'g')),
    ADD COLUMN pack_count numeric CHECK (pack_count > 0);

CREATE OR REPLACE FUNCTION unit_price(price numeric, pack_unit text, pack_count numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN round(price / nullif(CASE WHEN pack_unit IN ('ml', 'g') THEN pack_count / 1000 ELSE pack_count END, 0), 4);
