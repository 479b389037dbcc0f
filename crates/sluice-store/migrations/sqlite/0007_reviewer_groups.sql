-- The groups a reviewer was in when deciding, as a JSON list: people signed in through an
-- identity provider have their groups in their credential, not in the configuration, so the
-- decision keeps them for counting approvals against the review's requirements. NULL for
-- decisions made before this column: their reviewer's groups are the configured ones.
ALTER TABLE review_decisions ADD COLUMN reviewer_groups TEXT;
