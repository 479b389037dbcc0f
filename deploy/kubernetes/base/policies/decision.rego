# The decision: the one document the gateway asks for, data.sluice.decision.
#
# Rules elsewhere in this package add entries to two sets:
#   deny  contains {"rule": NAME, "reason": TEXT}   guardrails; any entry denies
#   allow contains {"rule": NAME, "reason": TEXT}   grants; one entry allows
# Deny wins over allow; with neither, the request is denied. An allowing decision carries
# `mask` when the results are to be masked (mask.rego), `approval` when reviewers must
# approve the request before it runs (approval.rego), and `token` when a credential it
# allows is narrowed (identity.rego). Because deny and allow are
# sets, any number of rules may match the same request without a conflict, and
# `decision` below is a single rule (an if/else chain), so it always has one value.
package sluice

import rego.v1

# Used only when nothing below applies, e.g. an input this bundle does not understand.
default decision := {
	"allow": false,
	"rule": "default_deny",
	"reasons": ["no rule allows this request"],
}

decision := {"allow": false, "rule": names[0], "reasons": reasons} if {
	names := sort({d.rule | some d in deny})
	count(names) > 0
	reasons := sort({d.reason | some d in deny})
} else := allowed(names[0], reasons) if {
	names := sort({a.rule | some a in allow})
	count(names) > 0
	reasons := sort({a.reason | some a in allow})
} else := {"allow": false, "rule": "default_deny", "reasons": [not_allowed]}

# An allowing decision, with the masking and approval parts when they apply.
allowed(rule, reasons) := object.union(
	object.union(
		object.union(
			object.union({"allow": true, "rule": rule, "reasons": reasons}, mask_part),
			approval_part,
		),
		token_part,
	),
	kube_secrets_part,
)

# Why nothing allowed the request, naming what was asked.
not_allowed := sprintf("%s (%s) is not allowed for %s (groups: %s) on %s", [
	statement.command,
	statement.kind,
	input.identity.name,
	group_list,
	input.target.name,
]) if {
	statement
} else := sprintf("%s is not allowed for %s on %s", [
	input.request.action,
	input.identity.name,
	input.target.name,
])

# The statement being decided; undefined for other actions (connect).
statement := input.request.statement if input.request.action == "statement"

group_list := concat(", ", input.identity.groups) if {
	count(input.identity.groups) > 0
} else := "none"
