# Kubernetes API requests (input.request.kind == "kube"), as kubectl sends them through the
# gateway's HTTPS listener (docs/http-request.md). The facts are the API server's own
# request info: verb, group, resource, subresource, namespace, name (docs/policy.md).
package sluice

import rego.v1

kube_request := input.request.kube if input.request.kind == "kube"

kube_read_verbs := {"get", "list", "watch"}

# Namespaces that hold production workloads, on any cluster; a target tagged as production
# (sql.rego: production) makes every namespace of it production.
kube_production_namespaces := {"prod", "production"}

kube_production if {
	kube_request.namespace in kube_production_namespaces
}

kube_production if {
	kube_request
	production
}

# Who reads the API: everyone who works with the systems. Discovery and reads of every
# resource; Secrets' values are redacted by the gateway unless the decision reveals them
# (kube_secrets_part below).
kube_reader_groups := developer_groups | ci_groups | oncall_groups | analyst_groups | break_glass_groups

allow contains {
	"rule": "kube_read",
	"reason": sprintf("%s may read (%s %s) on %s", [input.identity.name, kube_request.verb, kube_what, input.target.name]),
} if {
	kube_request.verb in kube_read_verbs
	member_of(kube_reader_groups)
}

kube_what := kube_request.resource if kube_request.resource != "" else := kube_request.path

# Changes: developers and people on call. Deleting in production waits for a reviewer
# (below); a dry run changes nothing and passes.
allow contains {
	"rule": "kube_change",
	"reason": sprintf("%s may %s %s on %s", [input.identity.name, kube_request.verb, kube_what, input.target.name]),
} if {
	not kube_request.verb in kube_read_verbs
	kube_request.verb != "connect"
	member_of(developer_groups | oncall_groups | break_glass_groups)
}

kube_delete_verbs := {"delete", "deletecollection"}

approvals contains {
	"groups": sort(oncall_groups),
	"approvals": 1,
	"reason": sprintf("%s of %s/%s in production namespace %s", [kube_request.verb, kube_request.resource, kube_name, kube_request.namespace]),
} if {
	kube_request.verb in kube_delete_verbs
	kube_production
	not kube_request.dry_run
	not member_of(break_glass_groups)
}

kube_name := kube_request.name if kube_request.name != null else := "*"

# A shell or a stream into a running container (exec, attach, portforward) reaches past
# everything the API server records about the change. Into production: people on call only.
deny contains {
	"rule": "kube_connect_production",
	"reason": sprintf("%s into pods in production namespace %s is only allowed for people on call", [kube_subresource, kube_request.namespace]),
} if {
	kube_request.verb == "connect"
	kube_production
	not member_of(oncall_groups | break_glass_groups)
}

kube_subresource := kube_request.subresource if kube_request.subresource != null else := "connect"

allow contains {
	"rule": "kube_connect",
	"reason": sprintf("%s may %s into pods on %s", [input.identity.name, kube_subresource, input.target.name]),
} if {
	kube_request.verb == "connect"
	member_of(developer_groups | oncall_groups | break_glass_groups)
}

# Secrets' values reach only break-glass; everyone else sees them redacted
# (decision.rego: allowed).
kube_secrets_part := {"secrets": "reveal"} if {
	kube_request
	member_of(break_glass_groups)
} else := {}
