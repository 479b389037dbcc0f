# HTTP requests (input.request.kind == "http"). No shipped protocol sends these yet; the rules
# are examples of the schema's http kind (docs/policy.md, "The input document").
package sluice

import rego.v1

http_request := input.request.http if input.request.kind == "http"

# Methods that only read.
http_read_methods := {"GET", "HEAD"}

allow contains {
	"rule": "ci_http_read",
	"reason": sprintf("%s may read (%s) from %s", [input.identity.name, http_request.method, input.target.name]),
} if {
	http_request.method in http_read_methods
	member_of(ci_groups)
}

allow contains {
	"rule": "developers_http",
	"reason": sprintf("%s may send %s requests to %s", [input.identity.name, http_request.method, input.target.name]),
} if {
	http_request
	member_of(developer_groups)
}

# Anything but a read, sent by a person to production, waits for a DBA (approval.rego).
approvals contains {
	"groups": sort(dba_groups),
	"approvals": 1,
	"reason": sprintf("%s %s on production target %s by a person", [http_request.method, http_request.path, input.target.name]),
} if {
	http_request
	not http_request.method in http_read_methods
	production
	input.identity.kind == "human"
}
