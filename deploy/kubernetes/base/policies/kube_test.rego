# kube.rego: reads for everyone who works with the systems, deletes in production namespaces
# held for people on call, exec into production for people on call only, Secrets' values
# for break-glass only, API answers masked.
package sluice_test

import rego.v1

kube_req(who, verb, resource, subresource, namespace, extra) := request_of(who, "cluster", "kube", object.union(
	{
		"verb": verb, "path": "/api/v1/namespaces/x/pods", "api_group": "", "api_version": "v1",
		"resource": resource, "subresource": subresource, "namespace": namespace, "name": "web-1",
		"label_selector": null, "field_selector": null, "dry_run": false, "container": null,
		"command": null,
	},
	extra,
))

test_reads_are_allowed_and_masked if {
	every who in ["alice", "bob", "ci-bot", "olga"] {
		d := decide(kube_req(who, "list", "pods", null, "prod", {}))
		allowed_by(d, "kube_read")
		d.mask.content != []
		not d.secrets
	}
	denied_by(decide(kube_req("nobody", "get", "pods", null, "prod", {})), "default_deny")
}

test_only_break_glass_sees_secret_values if {
	not decide(kube_req("alice", "get", "secrets", null, "prod", {})).secrets
	decide(kube_req("carol", "get", "secrets", null, "prod", {})).secrets == "reveal"
}

test_pii_readers_get_answers_unmasked if {
	d := decide(kube_req("dora", "get", "configmaps", null, "prod", {}))
	allowed_by(d, "kube_read")
	not d.mask
}

test_deleting_in_production_waits_for_on_call if {
	d := decide(kube_req("alice", "delete", "pods", null, "prod", {}))
	held_by(d, "kube_change", {"oncall"})
	allowed_by(decide(kube_req("alice", "delete", "pods", null, "staging", {})), "kube_change")
	allowed_by(decide(kube_req("alice", "delete", "pods", null, "prod", {"dry_run": true})), "kube_change")
	allowed_by(decide(kube_req("alice", "create", "pods", null, "prod", {})), "kube_change")
	denied_by(decide(kube_req("ci-bot", "delete", "pods", null, "staging", {})), "default_deny")
}

test_exec_into_production_is_denied_outside_on_call if {
	exec := {"command": ["sh"], "container": "app"}
	denied_by(decide(kube_req("alice", "connect", "pods", "exec", "prod", exec)), "kube_connect_production")
	denied_by(decide(kube_req("ci-bot", "connect", "pods", "exec", "staging", exec)), "default_deny")
	allowed_by(decide(kube_req("alice", "connect", "pods", "exec", "staging", exec)), "kube_connect")
	allowed_by(decide(kube_req("olga", "connect", "pods", "exec", "prod", exec)), "kube_connect")
	allowed_by(decide(kube_req("olga", "connect", "pods", "portforward", "prod", {})), "kube_connect")
}

test_http_admin_paths_are_denied if {
	denied_by(decide(web_request("alice", "staging", "GET", "/admin")), "http_admin_paths")
	denied_by(decide(web_request("alice", "staging", "GET", "/admin/users")), "http_admin_paths")
	allowed_by(decide(web_request("alice", "staging", "GET", "/administrators")), "developers_http")
	allowed_by(decide(web_request("carol", "staging", "GET", "/admin")), "developers_http")
}
