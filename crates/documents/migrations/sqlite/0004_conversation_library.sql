-- A conversation either asks the library (1: passages are retrieved and
-- cited) or talks with the model alone (0: the console's assistant page).
ALTER TABLE conversations ADD COLUMN library BIGINT NOT NULL DEFAULT 1;
