# HTTP requests (input.request.kind == "http") to the services behind the gateway's HTTPS
# listener (docs/http-request.md): method, host, normalised path, query, selected headers.
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
	member_of(developer_groups | dba_groups)
}

# A service's administrative endpoints are out of bounds through the gateway, however the
# path is spelled (`/%61dmin`, `/x/../admin`: the path is normalised before it is decided).
deny contains {
	"rule": "http_admin_paths",
	"reason": sprintf("%s is an administrative endpoint of %s", [http_request.path, input.target.name]),
} if {
	some prefix in {"/admin", "/actuator", "/debug"}
	http_path_under(http_request.path, prefix)
	not member_of(break_glass_groups)
}

http_path_under(path, prefix) if path == prefix

http_path_under(path, prefix) if startswith(path, concat("", [prefix, "/"]))

# Anything but a read, sent by a person to production, waits for a DBA (approval.rego).
approvals contains {
	"groups": sort(dba_groups),
	"approvals": 1,
	"reason": sprintf("%s %s on production target %s by %s", [http_request.method, http_request.path, input.target.name, requester_kind[input.identity.kind]]),
} if {
	http_request
	not http_request.method in http_read_methods
	production
	person_or_their_agent
}
