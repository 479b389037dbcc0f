# The request kinds of schema version 2 beyond connect, access and sql: command, channel,
# file (ssh.rego), http (http.rego) and kube (kube.rego). Also: version 2 documents of the
# old kinds are decided exactly as their version 1 form.
package sluice_test

import rego.v1

# An input of `kind`, its facts under the kind's own name, as the gateway builds them.
request_of(who, where, kind, facts) := object.union(base(who, where), {
	"schema_version": 2,
	"request": {"action": kind, "kind": kind, kind: facts},
})

# A command line as the SSH listener sends it: the facts are sluice-shell's own output for
# that line (ssh_facts_test.rego); ssh_test.rego has the command rules' tests.
shell(who, where, line) := request_of(who, where, "command", command_facts[line])

channel_open(who, type) := request_of(who, "shop", "channel", {
	"type": type, "host": null, "port": null, "originator": null,
})

file_op(who, operation, path) := request_of(who, "shop", "file", {
	"operation": operation, "path": path, "target_path": null, "via": "sftp",
})

web_request(who, where, method, path) := request_of(who, where, "http", {
	"method": method, "host": "api.internal", "path": path, "query": {}, "headers": {},
	"content_type": null, "body_size": null,
})

kube(who, verb, resource, subresource) := request_of(who, "shop", "kube", {
	"verb": verb, "path": "/api/v1/namespaces/shop/pods", "api_group": "", "api_version": "v1",
	"resource": resource, "subresource": subresource, "namespace": "shop", "name": null,
	"label_selector": null, "field_selector": null, "dry_run": false, "container": null,
	"command": null,
})

# --- command ---------------------------------------------------------------------------

test_commands_are_decided_on_their_facts if {
	d := decide(shell("ci-bot", "shop", "ls -l /var/log | grep -c error"))
	allowed_by(d, "ci_read_only_commands")
	d.reasons == ["ci-bot may run read-only commands (ls, grep)"]
	denied_by(decide(shell("bob", "shop", "df -h; uptime")), "default_deny")
}

# --- channel ---------------------------------------------------------------------------

test_session_channels_are_allowed if {
	allowed_by(decide(channel_open("alice", "session")), "session_channel")
}

test_channels_into_the_client_are_denied_for_everyone if {
	every type in ["forwarded-tcpip", "x11", "auth-agent"] {
		denied_by(decide(channel_open("carol", type)), "guarded_channel")
	}
	d := decide(channel_open("alice", "x11"))
	d.reasons == ["x11 channels are denied for everyone: X11 forwarding would let the target read the client's screen and keyboard"]
}

test_local_forwarding_is_granted_to_nobody if {
	doc := object.union(channel_open("alice", "direct-tcpip"), {"request": {"channel": {"host": "db.internal", "port": 5432}}})
	denied_by(decide(doc), "default_deny")
}

# --- file ------------------------------------------------------------------------------

test_ci_may_read_files if {
	every operation in ["read", "list", "stat", "readlink"] {
		allowed_by(decide(file_op("ci-bot", operation, "/srv/app/config.yml")), "ci_read_files")
	}
}

test_file_writes_are_for_developers if {
	every operation in ["write", "create", "remove", "rename", "mkdir", "rmdir", "setstat", "symlink"] {
		denied_by(decide(file_op("ci-bot", operation, "/srv/app/config.yml")), "file_write")
		allowed_by(decide(file_op("alice", operation, "/srv/app/config.yml")), "developers_files")
	}
	d := decide(file_op("bob", "write", "/srv/app/config.yml"))
	d.reasons == ["write of /srv/app/config.yml is only allowed for developers"]
}

test_file_reads_need_a_grant if {
	denied_by(decide(file_op("bob", "read", "/srv/app/config.yml")), "default_deny")
}

# --- http ------------------------------------------------------------------------------

test_ci_may_read_over_http if {
	every method in ["GET", "HEAD"] {
		allowed_by(decide(web_request("ci-bot", "shop", method, "/v1/orders")), "ci_http_read")
	}
	denied_by(decide(web_request("ci-bot", "shop", "POST", "/v1/orders")), "default_deny")
}

test_a_persons_http_change_on_production_waits_for_a_dba if {
	d := decide(web_request("alice", "shop", "POST", "/v1/orders"))
	held_by(d, "developers_http", {"dba"})
	{r.reason | some r in d.approval} == {"POST /v1/orders on production target shop by a person"}
	allowed_by(decide(web_request("alice", "shop", "GET", "/v1/orders")), "developers_http")
	allowed_by(decide(web_request("alice", "staging", "DELETE", "/v1/orders/7")), "developers_http")
}

# --- kube ------------------------------------------------------------------------------

test_ci_may_read_the_kubernetes_api if {
	every verb in ["get", "list", "watch"] {
		allowed_by(decide(kube("ci-bot", verb, "pods", null)), "kube_read")
	}
	denied_by(decide(kube("ci-bot", "delete", "pods", null)), "default_deny")
}

test_exec_into_production_is_for_people_on_call if {
	d := decide(kube("alice", "connect", "pods", "exec"))
	denied_by(d, "kube_connect_production")
	d.reasons == ["exec into pods in production namespace shop is only allowed for people on call"]
	allowed_by(decide(kube("olga", "connect", "pods", "exec")), "kube_connect")
}

# --- the old kinds in version 2 --------------------------------------------------------

# What version 2 adds to a version 1 statement or connect document.
v2(doc, kind, extra) := object.union(doc, {
	"schema_version": 2,
	"request": object.union({"kind": kind}, extra),
	"session": {"postgres": {"search_path": doc.session.search_path, "settings": doc.session.settings}},
})

test_version_2_decides_sql_and_connect_as_version_1 if {
	every who in ["alice", "bob", "ci-bot", "carol", "dora", "migrator", "nobody"] {
		every where in ["shop", "staging"] {
			every statement in [select_orders, update_order, delete_all_orders, create_index, do_block, set_role, begin] {
				v1 := sql(who, where, statement)
				decide(v2(v1, "sql", {"dialect": "postgresql"})) == decide(v1)
			}
			decide(v2(connect(who, where), "connect", {})) == decide(connect(who, where))
		}
	}
}

# The version 2 input document shown in docs/policy.md.
test_the_documented_version_2_example if {
	d := data.sluice.decision with input as {
		"schema_version": 2,
		"identity": {"name": "alice", "kind": "human", "groups": ["developers"], "attributes": {"team": "payments"}},
		"target": {"name": "shop", "kind": "postgres", "tags": {"env": "production"}, "database": "shop"},
		"session": {
			"client_address": "127.0.0.1", "application_name": "psql", "protocol": "postgres",
			"postgres": {"search_path": ["$user", "public"], "settings": {"client_encoding": "UTF8", "datestyle": "ISO, MDY"}},
			"search_path": ["$user", "public"], "settings": {"client_encoding": "UTF8", "datestyle": "ISO, MDY"},
		},
		"request": {
			"action": "statement", "kind": "sql", "dialect": "postgresql",
			"statement": {
				"text": "DELETE FROM orders", "kind": "write", "command": "DELETE",
				"tables_read": [], "tables_written": ["public.orders"], "functions": [],
				"unbounded_write": true, "session_change": null, "parameter_count": 0,
				"masked_columns_in_predicates": [],
			},
			"index": 0, "count": 1, "parameters": null,
		},
		"time": {"timezone": "Europe/Berlin", "weekday": "saturday", "hour": 10},
		"grants": [],
	}
	d == {"allow": false, "rule": "unbounded_write", "reasons": ["DELETE without WHERE on public.orders is denied for everyone"]}
}

test_version_2_startup_settings_are_read_from_the_postgres_section if {
	doc := object.union(connect("alice", "shop"), {
		"schema_version": 2,
		"request": {"kind": "connect"},
		"session": {"postgres": {"search_path": ["$user", "public"], "settings": {"role": "postgres"}}},
	})
	denied_by(decide(doc), "guarded_startup_setting")
}
