# Test fixtures: identities, targets and a function that builds a statement input.
package sluice_test

import rego.v1

identities := {
	"alice": {"name": "alice", "kind": "human", "groups": ["developers"], "attributes": {"team": "payments"}},
	"bob": {"name": "bob", "kind": "human", "groups": ["analysts"], "attributes": {}},
	"ci-bot": {"name": "ci-bot", "kind": "service", "groups": ["ci"], "attributes": {}},
	"migrator": {"name": "migrator", "kind": "service", "groups": ["migrations"], "attributes": {}},
	"mallory": {"name": "mallory", "kind": "human", "groups": ["migrations"], "attributes": {}},
	"carol": {"name": "carol", "kind": "human", "groups": ["developers", "break-glass"], "attributes": {}},
	"dora": {"name": "dora", "kind": "human", "groups": ["developers", "pii_readers"], "attributes": {}},
	"nobody": {"name": "nobody", "kind": "agent", "groups": [], "attributes": {}},
	"olga": {"name": "olga", "kind": "human", "groups": ["oncall"], "attributes": {}},
}

targets := {
	"shop": {"name": "shop", "kind": "postgres", "tags": {"env": "production"}, "database": "shop"},
	"staging": {"name": "staging", "kind": "postgres", "tags": {"env": "staging"}, "database": "shop"},
	"cluster": {"name": "cluster", "kind": "kubernetes", "tags": {}, "database": ""},
}

# The session's id and start time, and the exact current time, are left out on purpose: a
# bundle that reads them cannot have its decisions cached (docs/policy.md, "Decision cache").
session := {
	"client_address": "127.0.0.1",
	"application_name": "psql",
	"protocol": "postgres",
	"search_path": ["$user", "public"],
	"settings": {},
}

clock := {"timezone": "Europe/Berlin", "weekday": "saturday", "hour": 10}

# A statement with nothing in it; tests override the fields they care about.
blank_statement := {
	"text": "",
	"kind": "read",
	"command": "SELECT",
	"tables_read": [],
	"tables_written": [],
	"functions": [],
	"unbounded_write": false,
	"session_change": null,
	"parameter_count": 0,
	"masked_columns_in_predicates": [],
}

base(who, where) := {
	"identity": identities[who],
	"target": targets[where],
	"session": session,
	"time": clock,
	"grants": [],
}

sql(who, where, statement) := object.union(base(who, where), {"request": {
	"action": "statement",
	"statement": object.union(blank_statement, statement),
	"index": 0,
	"count": 1,
	"parameters": null,
}})

connect(who, where) := object.union(base(who, where), {"request": {"action": "connect"}})

# The decision for an input.
decide(doc) := d if {
	d := data.sluice.decision with input as doc
}

# Every decision has exactly these keys, and an allowing one may carry `mask` and
# `approval` as well; anything else would be a deny.
well_formed(d) if {
	{k | some k, _ in d} - {"mask", "approval", "token"} == {"allow", "rule", "reasons"}
	is_boolean(d.allow)
	is_string(d.rule)
	count(d.reasons) > 0
	mask_well_formed(d)
	approval_well_formed(d)
}

approval_well_formed(d) if not "approval" in object.keys(d)

approval_well_formed(d) if {
	d.allow == true
	count(d.approval) > 0
	every r in d.approval {
		{k | some k, _ in r} == {"groups", "approvals", "reason"}
		count(r.groups) > 0
		r.approvals >= 1
		r.approvals <= 10
		is_string(r.reason)
	}
}

mask_well_formed(d) if not "mask" in object.keys(d)

mask_well_formed(d) if {
	d.allow == true
	{k | some k, _ in d.mask} - {"columns", "content"} == set()
	every rule in object.get(d.mask, "columns", []) {
		{k | some k, _ in rule} == {"column", "strategy"}
		column_pattern(rule.column)
		strategy(rule.strategy)
	}
	every rule in object.get(d.mask, "content", []) {
		{k | some k, _ in rule} == {"detector", "strategy"}
		rule.detector in detectors
		strategy(rule.strategy)
	}
}

# `schema.table.column` or a bare column name; `schema.table` alone is refused.
column_pattern(p) if {
	is_string(p)
	count(split(p, ".")) in {1, 3}
	every part in split(p, ".") { part != "" }
}

strategy(s) if s in {"redact", "email_domain", "token", "null"}

strategy(s) if {
	is_object(s)
	object.keys(s) == {"keep_last"}
	is_number(s.keep_last)
	s.keep_last >= 0
	round(s.keep_last) == s.keep_last
}

detectors := {
	"*", "email", "us_ssn", "payment_card", "iban", "phone", "ipv4", "ipv6", "jwt",
	"private_key", "aws_access_key", "github_token", "slack_token", "password",
}

# Allowed outright: not held for approval.
allowed_by(d, rule) if {
	well_formed(d)
	d.allow == true
	d.rule == rule
	not "approval" in object.keys(d)
}

# Allowed once reviewers from exactly `groups` approve it.
held_by(d, rule, groups) if {
	well_formed(d)
	d.allow == true
	d.rule == rule
	{g | some r in d.approval; some g in r.groups} == groups
}

denied_by(d, rule) if {
	well_formed(d)
	d.allow == false
	d.rule == rule
}

# Commonly used statements.
select_orders := {"text": "SELECT * FROM orders", "tables_read": ["public.orders"]}

update_order := {
	"text": "UPDATE orders SET state = 'paid' WHERE id = 1",
	"kind": "write", "command": "UPDATE", "tables_written": ["public.orders"],
}

delete_all_orders := {
	"text": "DELETE FROM orders",
	"kind": "write", "command": "DELETE", "tables_written": ["public.orders"],
	"unbounded_write": true,
}

create_index := {
	"text": "CREATE INDEX orders_state ON orders (state)",
	"kind": "ddl", "command": "CREATE INDEX", "tables_written": ["public.orders"],
}

do_block := {"text": "DO $$ BEGIN PERFORM 1; END $$", "kind": "procedural", "command": "DO"}

set_role := {
	"text": "SET ROLE postgres", "kind": "session_change", "command": "SET",
	"session_change": {"setting": "role", "value": "postgres"},
}

begin := {"text": "BEGIN", "kind": "transaction", "command": "BEGIN"}
