-- Mirrors migrations/sqlite/0007_reviewer_groups.sql.
ALTER TABLE review_decisions ADD COLUMN reviewer_groups TEXT;
