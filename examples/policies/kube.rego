# Kubernetes API requests (input.request.kind == "kube"). No shipped protocol sends these yet;
# the rules are examples of the schema's kube kind (docs/policy.md, "The input document").
package sluice

import rego.v1

kube_request := input.request.kube if input.request.kind == "kube"

kube_read_verbs := {"get", "list", "watch"}

# A shell or a stream into a running container (exec, attach, portforward) reaches past
# everything the API server records about the change: people who develop the service only.
deny contains {
	"rule": "kube_connect",
	"reason": sprintf("%s into pods (%s) is only allowed for developers", [kube_subresource, input.target.name]),
} if {
	kube_request.verb == "connect"
	not member_of(developer_groups)
}

kube_subresource := kube_request.subresource if kube_request.subresource != null else := "connect"

allow contains {
	"rule": "ci_kube_read",
	"reason": sprintf("%s may read (%s %s) on %s", [input.identity.name, kube_request.verb, kube_request.resource, input.target.name]),
} if {
	kube_request.verb in kube_read_verbs
	member_of(ci_groups)
}

allow contains {
	"rule": "developers_kube",
	"reason": sprintf("%s may use the Kubernetes API of %s", [input.identity.name, input.target.name]),
} if {
	kube_request
	member_of(developer_groups)
}
