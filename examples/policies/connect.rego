# Opening a session (input.request.action == "connect").
#
# Only identities configured in sluice.toml, holding a valid token, ever reach the policy,
# so every one of them may connect. What they may then run is decided statement by
# statement (sql.rego). To keep someone off a target altogether, add a deny rule here,
# e.g. on input.target.tags or input.identity.kind.
package sluice

import rego.v1

allow contains {
	"rule": "connect_configured_identity",
	"reason": sprintf("%s is a configured identity and may open sessions on %s", [input.identity.name, input.target.name]),
} if {
	input.request.action == "connect"
	input.identity.name != ""
}
