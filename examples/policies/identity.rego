# Credentials (input.request.action == "token") and the admin API ("admin").
#
# A credential request comes from a person signing in (purpose "login"), a workload trading
# its own identity provider's token (purpose "exchange", e.g. a CI job's OIDC token), or a
# signed-in person minting a per-task credential for an agent (purpose "task"). The
# decision may narrow what is issued with "token": {"targets": [...], "ttl_seconds": N}
# (token_part below); it never widens what was asked.
package sluice

import rego.v1

# People sign in with the identity provider; what they may then do is decided request by
# request as for anyone else.
allow contains {
	"rule": "people_sign_in",
	"reason": sprintf("%s signs in through %s", [input.identity.name, provider_name]),
} if {
	input.request.action == "token"
	input.request.token.purpose == "login"
	input.identity.kind == "human"
}

provider_name := p if {
	p := input.identity.provider
	is_string(p)
} else := "an identity provider"

# A person's per-task credential for an agent: only for targets they named, at most an hour.
# The agent acts as the person (same groups), and every record of its sessions names the task.
max_task_seconds := 3600

allow contains {
	"rule": "task_credential",
	"reason": sprintf("%s starts a task: %s", [input.identity.name, input.request.token.task]),
} if {
	input.request.action == "token"
	input.request.token.purpose == "task"
	count(input.request.token.targets) > 0
	input.request.token.ttl_seconds <= max_task_seconds
}

# Workloads: which repositories' CI jobs may reach which targets, by the claims of their
# own OIDC token (GitHub Actions' `repository` and `ref`; GitLab's `project_path` and `ref`
# work the same way). Only the default branch gets a credential.
workload_targets := {"corp/shop": ["shop"]}

workload_refs := {"refs/heads/main"}

allow contains {
	"rule": "ci_token_exchange",
	"reason": sprintf("CI of %s at %s", [input.identity.claims.repository, input.identity.claims.ref]),
} if {
	input.request.action == "token"
	input.request.token.purpose == "exchange"
	workload_targets[input.identity.claims.repository]
	input.identity.claims.ref in workload_refs
}

token_part := {"token": {"targets": workload_targets[input.identity.claims.repository], "ttl_seconds": 900}} if {
	input.request.action == "token"
	input.request.token.purpose == "exchange"
} else := {}

# The admin API and the web console. Everyone signed in may look at reviews and grants,
# decide reviews (the approval rules still say whose approval counts), ask for access, mint
# task credentials and ask what the policy would decide; auditors also read recorded sessions
# and the audit trail; only admins reload the policy or revoke others' grants.
admin_groups := {"admins"}

auditor_groups := {"auditors", "admins"}

auditor_operations := {"sessions.list", "sessions.read", "audit.read"}

self_service_operations := {
	"policy.read",
	"cluster.read",
	"signals.read",
	"reviews.list",
	"reviews.read",
	"reviews.decide",
	"access.request",
	"grants.list",
	"grants.revoke",
	"tokens.create",
	"policy.evaluate",
}

allow contains {
	"rule": "admin_self_service",
	"reason": sprintf("%s may %s", [input.identity.name, input.request.admin.operation]),
} if {
	input.request.action == "admin"
	input.request.admin.operation in self_service_operations
	input.identity.kind == "human"
}

allow contains {
	"rule": "admin_auditors",
	"reason": sprintf("%s audits", [input.identity.name]),
} if {
	input.request.action == "admin"
	input.request.admin.operation in auditor_operations
	input.identity.kind == "human"
	member_of(auditor_groups)
}

allow contains {
	"rule": "admin_operators",
	"reason": sprintf("%s is an admin", [input.identity.name]),
} if {
	input.request.action == "admin"
	member_of(admin_groups)
}
