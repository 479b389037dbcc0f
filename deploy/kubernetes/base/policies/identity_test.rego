package sluice_test

import rego.v1

gateway_target := {"name": "", "kind": "gateway", "tags": {}, "database": ""}

token(who, purpose, targets, seconds, task) := {
	"identity": identities[who],
	"target": gateway_target,
	"session": session,
	"time": clock,
	"grants": [],
	"request": {"action": "token", "kind": "token", "token": {
		"purpose": purpose, "targets": targets, "ttl_seconds": seconds, "task": task,
		"provider": "corp",
	}},
}

workload(claims) := object.union(token("ci-bot", "exchange", [], 900, "github:run-1"), {
	"identity": object.union(identities["ci-bot"], {"claims": claims, "provider": "github"}),
})

admin(who, operation) := {
	"identity": identities[who],
	"target": gateway_target,
	"session": session,
	"time": clock,
	"grants": [],
	"request": {"action": "admin", "kind": "admin", "admin": {
		"operation": operation, "method": "POST", "path": "/policy/reload",
	}},
}

test_people_sign_in if {
	allowed_by(decide(token("alice", "login", [], 28800, null)), "people_sign_in")
}

test_services_do_not_sign_in if {
	denied_by(decide(token("ci-bot", "login", [], 28800, null)), "default_deny")
}

test_task_credentials_name_targets_and_stay_short if {
	allowed_by(decide(token("alice", "task", ["shop"], 900, "summarise orders")), "task_credential")
	denied_by(decide(token("alice", "task", [], 900, "anything")), "default_deny")
	denied_by(decide(token("alice", "task", ["shop"], 7200, "too long")), "default_deny")
}

test_ci_of_the_main_branch_gets_its_targets_for_15_minutes if {
	d := decide(workload({"repository": "corp/shop", "ref": "refs/heads/main"}))
	allowed_by(d, "ci_token_exchange")
	d.token == {"targets": ["shop"], "ttl_seconds": 900}
}

test_other_branches_and_repositories_get_nothing if {
	denied_by(decide(workload({"repository": "corp/shop", "ref": "refs/heads/feature"})), "default_deny")
	denied_by(decide(workload({"repository": "evil/shop", "ref": "refs/heads/main"})), "default_deny")
	denied_by(decide(workload({})), "default_deny")
}

test_admin_self_service_and_operators if {
	allowed_by(decide(admin("alice", "reviews.decide")), "admin_self_service")
	denied_by(decide(admin("alice", "policy.reload")), "default_deny")
	denied_by(decide(admin("ci-bot", "reviews.list")), "default_deny")
}

test_auditors_read_sessions_and_the_audit_trail if {
	auditor := object.union(admin("alice", "audit.read"), {"identity": object.union(identities.alice, {"groups": ["auditors"]})})
	allowed_by(decide(auditor), "admin_auditors")
	denied_by(decide(admin("alice", "audit.read")), "default_deny")
	denied_by(decide(admin("alice", "sessions.read")), "default_deny")
	allowed_by(decide(admin("alice", "policy.evaluate")), "admin_self_service")
}
