# ssh_sessions.rego: shells, subsystems and environment in SSH session channels.
package sluice_test

import rego.v1

session_request(who, where, type, name) := request_of_at(who, where, "channel", {
	"type": type, "host": null, "port": null, "originator": null, "name": name,
})

request_of_at(who, where, kind, facts) := object.union(base(who, where), {
	"schema_version": 2,
	"request": {"action": kind, "kind": kind, kind: facts},
})

test_people_get_shells_outside_production_and_wait_for_a_reviewer_on_it if {
	allowed_by(decide(session_request("alice", "staging", "shell", null)), "people_shells")
	held_by(decide(session_request("alice", "shop", "shell", null)), "people_shells", {"oncall", "dba"})
}

test_automation_gets_no_shell if {
	d := decide(session_request("ci-bot", "staging", "shell", null))
	d.allow == false
}

test_sftp_is_allowed_and_other_subsystems_are_not if {
	allowed_by(decide(session_request("ci-bot", "staging", "subsystem", "sftp")), "sftp_subsystem")
	d := decide(session_request("alice", "staging", "subsystem", "netconf"))
	d.allow == false
}

test_only_locale_variables_are_passed_on if {
	allowed_by(decide(session_request("alice", "shop", "env", "LANG")), "locale_env")
	allowed_by(decide(session_request("alice", "shop", "env", "LC_ALL")), "locale_env")
	d := decide(session_request("alice", "shop", "env", "LD_PRELOAD"))
	d.allow == false
}

test_shell_output_is_masked_by_the_terminal_detectors_for_everyone_but_pii_readers if {
	d := decide(session_request("alice", "staging", "shell", null))
	allowed_by(d, "people_shells")
	{r.detector | some r in d.mask.content} == {"payment_card", "us_ssn", "iban", "private_key", "aws_access_key", "github_token", "slack_token", "jwt"}
}
