# The combinator: deny beats allow, several matching rules give one decision, and
# anything unexpected is denied.
package sluice_test

import rego.v1

test_deny_beats_allow if {
	# alice (developers) may write, but not without WHERE.
	denied_by(decide(sql("alice", "staging", delete_all_orders)), "unbounded_write")
}

test_several_deny_rules_give_one_deny if {
	# DDL on production by a person, an unbounded write in a CTE, a dangerous function:
	# three guardrails, one decision, no conflict.
	d := decide(sql("alice", "shop", {
		"text": "CREATE TABLE x AS WITH d AS (DELETE FROM orders RETURNING *) SELECT pg_read_file('/etc/passwd') FROM d",
		"kind": "ddl",
		"command": "CREATE TABLE AS",
		"tables_written": ["public.x", "public.orders"],
		"functions": ["pg_read_file"],
		"unbounded_write": true,
	}))
	denied_by(d, "dangerous_function") # the first rule name in sort order
	count(d.reasons) == 3
}

test_several_allow_rules_give_one_allow if {
	doc := object.union(sql("carol", "staging", select_orders), {"identity": {"groups": ["analysts", "developers", "ci", "break-glass"]}})
	d := decide(doc)
	allowed_by(d, "analysts_read_only")
	count(d.reasons) == 4
}

test_default_deny_names_the_statement if {
	d := decide(sql("nobody", "staging", select_orders))
	denied_by(d, "default_deny")
	d.reasons == ["SELECT (read) is not allowed for nobody (groups: none) on staging"]
}

test_default_deny_for_unknown_action if {
	doc := object.union(connect("alice", "shop"), {"request": {"action": "exec"}})
	d := decide(doc)
	denied_by(d, "default_deny")
	d.reasons == ["exec is not allowed for alice on shop"]
}

test_default_deny_for_unknown_kind if {
	denied_by(decide(sql("alice", "staging", {"kind": "something_new"})), "default_deny")
}

test_empty_input_is_denied if {
	d := data.sluice.decision with input as {}
	d == {"allow": false, "rule": "default_deny", "reasons": ["no rule allows this request"]}
}

test_statements_of_a_string_are_decided_alone if {
	# The gateway asks once per statement; index and count do not change the outcome.
	doc := object.union(sql("bob", "shop", select_orders), {"request": {"index": 1, "count": 3}})
	allowed_by(decide(doc), "analysts_read_only")
}

test_one_reason_per_offending_function if {
	d := decide(sql("alice", "staging", {"functions": ["dblink_exec", "pg_catalog.pg_read_file", "upper"]}))
	denied_by(d, "dangerous_function")
	d.reasons == [
		"function dblink_exec connects from the database server to other servers and is denied for everyone",
		"function pg_read_file reads files on the database server and is denied for everyone",
	]
}

# The input document shown in docs/policy.md, as the gateway sends it.
test_the_documented_example if {
	d := data.sluice.decision with input as {
		"identity": {"name": "alice", "kind": "human", "groups": ["developers"], "attributes": {"team": "payments"}},
		"target": {"name": "shop", "kind": "postgres", "tags": {"env": "production"}, "database": "shop"},
		"session": {"client_address": "127.0.0.1", "application_name": "psql", "protocol": "postgres", "search_path": ["$user", "public"]},
		"request": {
			"action": "statement",
			"statement": {
				"text": "DELETE FROM orders", "kind": "write", "command": "DELETE",
				"tables_read": [], "tables_written": ["public.orders"], "functions": [],
				"unbounded_write": true, "session_change": null, "parameter_count": 0,
			},
			"index": 0, "count": 1, "parameters": null,
		},
		"time": {"timezone": "Europe/Berlin", "weekday": "saturday", "hour": 10},
		"grants": [],
	}
	d == {"allow": false, "rule": "unbounded_write", "reasons": ["DELETE without WHERE on public.orders is denied for everyone"]}
}
