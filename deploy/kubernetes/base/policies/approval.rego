# Approval: requests that run only once a reviewer approves them, and requests for access.
#
# Rules add requirements to `approvals`; an allowed request with any requirement is held
# (docs/approvals.md): the client waits, reviewers see it with `sluice review list`, and it
# runs the moment the requirements are met. Each requirement is {"groups": [...],
# "approvals": N, "reason": TEXT}: N distinct reviewers from any of the groups, never the
# requester. A denial always wins: approval cannot unlock what a guardrail forbids.
package sluice

import rego.v1

# Who reviews risky changes on production (groups.rego style: several names share a role).
dba_groups := {"dba"}

# Data changes on production by people wait for one DBA, unless the person holds a live
# grant on the target that covers writes (see below). What counts is what the statement
# writes, not its command: a DELETE inside a WITH, an INSERT ... SELECT, a COPY FROM and a
# SELECT INTO all write tables. An agent a person started with a per-task credential (kind
# "agent": `sluice token create --task`, the MCP endpoint) waits like the person: somebody is
# at the other end of its tool call. Automation is not held: nobody would be waiting at its
# terminal. Unbounded writes are denied outright (sql.rego).
approvals contains {
	"groups": sort(dba_groups),
	"approvals": 1,
	"reason": sprintf("%s writing %s on production target %s by %s", [
		statement.command,
		concat(", ", statement.tables_written),
		input.target.name,
		requester_kind[input.identity.kind],
	]),
} if {
	count(statement.tables_written) > 0
	production
	person_or_their_agent
	not write_grant
}

requester_kind := {"human": "a person", "agent": "an agent"}

# A grant from `sluice access request TARGET --scope write` (or "*") covers writes for its
# duration: the review happened once, for the window.
write_grant if {
	some grant in input.grants
	grant.target == input.target.name
	grant.scope in {"*", "write"}
}

# ---------------------------------------------------------------------------------------
# Requests for access (`sluice access request`): request.action == "access"
# ---------------------------------------------------------------------------------------

# The longest window anyone may ask for here; the gateway's own cap (approvals.max_grant)
# applies too.
max_access_seconds := 8 * 3600

# People who work with data may ask for a window; on production a DBA approves it, elsewhere
# it is granted at once.
allow contains {
	"rule": "access_request",
	"reason": sprintf("%s may ask for access to %s", [input.identity.name, input.target.name]),
} if {
	input.request.action == "access"
	input.identity.kind == "human"
	member_of(data_groups)
	input.request.duration_seconds <= max_access_seconds
}

approvals contains {
	"groups": sort(dba_groups),
	"approvals": 1,
	"reason": sprintf("access to production target %s (%s) for %ds: %s", [
		input.target.name,
		input.request.scope,
		input.request.duration_seconds,
		input.request.reason,
	]),
} if {
	input.request.action == "access"
	production
}

# The approval part of an allowing decision (decision.rego: allowed).
approval_part := {"approval": approvals} if count(approvals) > 0 else := {}
