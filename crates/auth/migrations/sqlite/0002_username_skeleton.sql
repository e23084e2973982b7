-- What a username looks like (its UTS #39 confusable skeleton, accents
-- dropped), unique so that no new name can pass for another. Filled in for
-- older rows at start-up; NULL only where an older name already looks like
-- another one.
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_username_skeleton ON users (username_skeleton);
