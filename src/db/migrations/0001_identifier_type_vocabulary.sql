-- The identifier types every deployment starts with (DIGEST 5); countries add their own rows.
INSERT INTO "identifier_types" ("code", "description", "applies_to") VALUES
  ('UIN', 'Unique identification number', 'person'),
  ('BRN', 'Birth registration number', 'person'),
  ('DRN', 'Death registration number', 'person'),
  ('MRN', 'Marriage registration number', 'person'),
  ('HOUSEHOLD_ID', 'Household identifier', 'group')
ON CONFLICT ("code") DO NOTHING;
