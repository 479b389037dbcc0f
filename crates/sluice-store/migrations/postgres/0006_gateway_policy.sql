-- Mirrors migrations/sqlite/0006_gateway_policy.sql.
ALTER TABLE gateways ADD COLUMN policy TEXT;
