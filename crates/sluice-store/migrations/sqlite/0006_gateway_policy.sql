-- The policy version each gateway enforces, written with its heartbeat, so that any gateway
-- can tell whether the others enforce the same policy (the policy-drift signal).
ALTER TABLE gateways ADD COLUMN policy TEXT;
