-- The library's own database, beside auth's (run once, when the data
-- volume is initialized). The same role owns both; each service migrates
-- its own.
CREATE DATABASE documents OWNER scriptorium;
