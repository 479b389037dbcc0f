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

connect_with(who, settings) := object.union(connect(who, "shop"), {"session": {"settings": settings}})

test_ordinary_startup_settings_are_allowed if {
	d := decide(connect_with("alice", {"datestyle": "ISO", "client_min_messages": "warning", "client_encoding": "UTF8"}))
	allowed_by(d, "connect_configured_identity")
}

test_role_and_replication_role_at_startup_are_denied if {
	every settings in [{"role": "postgres"}, {"session_authorization": "postgres"}, {"session_replication_role": "replica"}] {
		denied_by(decide(connect_with("alice", settings)), "guarded_startup_setting")
	}
}

test_break_glass_may_choose_the_role_at_startup if {
	allowed_by(decide(connect_with("carol", {"role": "app_admin"})), "connect_configured_identity")
}

test_nonstandard_strings_and_client_only_encodings_at_startup_are_denied if {
	every settings in [{"standard_conforming_strings": "off"}, {"client_encoding": "SJIS"}, {"client_encoding": "Shift_JIS"}, {"client_encoding": "gb-18030"}] {
		denied_by(decide(connect_with("carol", settings)), "guarded_startup_setting")
	}
}
