package sluice_test

import rego.v1

delete_order := {
	"text": "DELETE FROM orders WHERE id = $1",
	"kind": "write", "command": "DELETE", "tables_written": ["public.orders"],
}

access(who, where, scope, seconds) := object.union(base(who, where), {"request": {
	"action": "access",
	"scope": scope,
	"duration_seconds": seconds,
	"reason": "incident 42",
}})

with_grants(doc, grants) := object.union(doc, {"grants": grants})

grant(target, scope) := {
	"id": "g-1", "target": target, "scope": scope, "reason": "incident 42",
	"expires_at": "2026-11-21T10:00:00Z", "approvers": ["dana"],
}

test_people_writing_production_wait_for_a_dba if {
	every s in [update_order, delete_order] {
		d := decide(sql("alice", "shop", s))
		held_by(d, "developers_read_write_ddl", {"dba"})
		some r in d.approval
		r.approvals == 1
		contains(r.reason, "writing public.orders on production target shop")
	}
}

test_writes_hidden_in_other_commands_are_held if {
	cte := {
		"text": "WITH d AS (DELETE FROM orders WHERE id = 1 RETURNING id) SELECT * FROM d",
		"kind": "write", "command": "SELECT", "tables_written": ["public.orders"], "tables_read": ["public.orders"],
	}
	held_by(decide(sql("dora", "shop", cte)), "developers_read_write_ddl", {"dba"})
}

test_reads_and_staging_are_not_held if {
	allowed_by(decide(sql("alice", "shop", select_orders)), "developers_read_write_ddl")
	allowed_by(decide(sql("alice", "staging", delete_order)), "developers_read_write_ddl")
}

test_automation_is_not_held if {
	allowed_by(decide(sql("ci-bot", "shop", update_order)), "ci_read_write")
}

test_guardrails_win_over_approval if {
	denied_by(decide(sql("alice", "shop", delete_all_orders)), "unbounded_write")
}

test_a_write_grant_covers_the_window if {
	doc := with_grants(sql("alice", "shop", update_order), [grant("shop", "write")])
	allowed_by(decide(doc), "developers_read_write_ddl")
	any_scope := with_grants(sql("alice", "shop", update_order), [grant("shop", "*")])
	allowed_by(decide(any_scope), "developers_read_write_ddl")
}

test_a_grant_of_another_scope_does_not if {
	doc := with_grants(sql("alice", "shop", update_order), [grant("shop", "read")])
	held_by(decide(doc), "developers_read_write_ddl", {"dba"})
}

test_production_access_needs_a_dba if {
	d := decide(access("alice", "shop", "write", 3600))
	held_by(d, "access_request", {"dba"})
	some r in d.approval
	contains(r.reason, "incident 42")
}

test_staging_access_is_granted_at_once if {
	allowed_by(decide(access("alice", "staging", "write", 3600)), "access_request")
}

test_access_is_bounded_and_for_people if {
	denied_by(decide(access("alice", "shop", "write", 9 * 3600)), "default_deny")
	denied_by(decide(access("ci-bot", "staging", "write", 60)), "default_deny")
	denied_by(decide(access("mallory", "staging", "write", 60)), "default_deny")
}

# An agent a person started (per-task credential, kind "agent") waits for a DBA like the
# person, and the reason says who asked; and it may not do what the person may not.
as_agent(doc) := object.union(doc, {"identity": {"kind": "agent"}})

test_an_agents_production_write_is_held_like_its_persons if {
	d := decide(as_agent(sql("alice", "shop", delete_order)))
	held_by(d, "developers_read_write_ddl", {"dba"})
	some r in d.approval
	contains(r.reason, "on production target shop by an agent")
}

test_an_agent_gets_no_ddl_on_production_either if {
	denied_by(decide(as_agent(sql("alice", "shop", create_index))), "no_human_ddl_in_production")
}
