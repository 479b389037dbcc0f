package sluice_test

import rego.v1

test_every_configured_identity_may_connect if {
	every who, _ in identities {
		allowed_by(decide(connect(who, "shop")), "connect_configured_identity")
	}
}

test_connect_reason_names_identity_and_target if {
	d := decide(connect("bob", "staging"))
	d.reasons == ["bob is a configured identity and may open sessions on staging"]
}

test_connect_without_identity_name_is_denied if {
	doc := object.union(connect("alice", "shop"), {"identity": {"name": ""}})
	denied_by(decide(doc), "default_deny")
}
