package sluice_test

import rego.v1

test_connect_allowed if {
	data.sluice.decision.allow with input as {"request": {"action": "connect"}}
}

test_statement_allowed_unmasked if {
	d := data.sluice.decision with input as {"request": {"action": "statement", "statement": {"kind": "ddl"}}}
	d.allow
	not d.mask
	not d.approval
}
