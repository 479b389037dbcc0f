# The command rules of ssh.rego, decided on the facts sluice-shell produces for real lines
# (ssh_facts_test.rego, generated from the analyser). `shop` is a production target,
# `staging` is not.
package sluice_test

import rego.v1

# alice as she is in the example configuration: a developer who is also on call.
on_call(doc) := object.union(doc, {"identity": {"groups": ["developers", "oncall"]}})

# --- destructive_command ---------------------------------------------------------------

root_removals := [
	"rm -rf /",
	"r''m -rf /",
	"\\rm -fr //",
	"/usr/bin/../bin/rm --recursive --force /.",
	"rm -r -f /*",
	"rm --recu --no-preserve-root /./",
	"rm -rf /..",
	"sudo sh -c 'rm -rf --no-preserve-root /'",
	"timeout 5 env -i rm -Rf /",
	"cd / && rm -rf *",
]

test_rm_of_the_root_is_denied_for_everyone_however_written if {
	every line in root_removals {
		every who in ["alice", "carol", "ci-bot"] {
			every where in ["shop", "staging"] {
				denied_by(decide(shell(who, where, line)), "destructive_command")
			}
		}
		denied_by(decide(on_call(shell("alice", "shop", line))), "destructive_command")
	}
	d := decide(shell("carol", "staging", "sudo sh -c 'rm -rf --no-preserve-root /'"))
	d.reasons == ["rm -rf --no-preserve-root / would remove the whole file system and is denied for everyone"]
	e := decide(shell("alice", "staging", "cd / && rm -rf *"))
	e.reasons == ["rm -rf * after cd / would remove the whole file system and is denied for everyone"]
}

test_rm_elsewhere_is_not_the_guardrail if {
	allowed_by(decide(shell("alice", "staging", "rm -rf /tmp/build")), "developers_commands")
	allowed_by(decide(shell("alice", "staging", "cd /tmp && rm -rf *")), "developers_commands")
}

# --- fetch_piped_to_shell --------------------------------------------------------------

test_downloaded_or_decoded_code_is_denied_for_everyone if {
	every line in [
		"curl -fsSL https://get.example.com | sh",
		"echo cm0gLXJmIC8K | base64 -d | bash",
		"sudo sh -c 'curl -s https://x.example/i.sh | bash'",
	] {
		denied_by(decide(shell("alice", "staging", line)), "fetch_piped_to_shell")
		denied_by(decide(on_call(shell("alice", "shop", line))), "fetch_piped_to_shell")
	}
	d := decide(shell("alice", "staging", "curl -fsSL https://get.example.com | sh"))
	d.reasons == ["\"curl -fsSL https://get.example.com | sh\" runs code it downloads or decodes (fetch_to_shell), which is denied for everyone"]
}

# --- unresolved_command ----------------------------------------------------------------

test_lines_that_cannot_be_analysed_are_denied_on_production if {
	every line in ["ls $(cat dirs.txt)", "python3 -c 'print(1)'"] {
		denied_by(decide(on_call(shell("alice", "shop", line))), "unresolved_command")
		allowed_by(decide(shell("alice", "staging", line)), "developers_commands")
	}
	d := decide(on_call(shell("alice", "shop", "ls $(cat dirs.txt)")))
	d.reasons == ["\"ls $(cat dirs.txt)\" on production target shop cannot be fully analysed (command_substitution)"]
}

# --- unparsed_command ------------------------------------------------------------------

test_unparsed_command_lines_are_denied if {
	every where in ["shop", "staging"] {
		d := decide(shell("alice", where, "ls 'unterminated"))
		denied_by(d, "unparsed_command")
		d.reasons == ["the command line \"ls 'unterminated\" could not be parsed, so what it runs is unknown"]
	}
}

# --- developers_commands, oncall_commands ----------------------------------------------

test_developers_run_commands_outside_production if {
	d := decide(shell("alice", "staging", "uname -a"))
	allowed_by(d, "developers_commands")
	d.reasons == ["alice may run commands on staging, which is not production"]
	allowed_by(decide(shell("alice", "staging", "sudo systemctl restart nginx")), "developers_commands")
	denied_by(decide(shell("bob", "staging", "uname -a")), "default_deny")
}

test_on_production_only_the_people_on_call_run_commands if {
	denied_by(decide(shell("alice", "shop", "uname -a")), "default_deny")
	d := decide(on_call(shell("alice", "shop", "uname -a")))
	allowed_by(d, "oncall_commands")
	d.reasons == ["alice is on call and may run commands on shop"]
}

# --- sudo_on_production ----------------------------------------------------------------

test_sudo_on_production_waits_for_a_reviewer if {
	d := decide(on_call(shell("alice", "shop", "sudo systemctl restart nginx")))
	held_by(d, "oncall_commands", {"dba"})
	{r.reason | some r in d.approval} == {"\"sudo systemctl restart nginx\" runs as another user (sudo) on production target shop"}
	every line in ["doas -u app ls /srv/app", "cat /etc/os-release | sudo tee /etc/motd"] {
		held_by(decide(on_call(shell("alice", "shop", line))), "oncall_commands", {"dba"})
	}
	allowed_by(decide(on_call(shell("alice", "shop", "systemctl status nginx"))), "oncall_commands")
}

# --- ci_read_only_commands -------------------------------------------------------------

test_ci_may_run_read_only_commands if {
	d := decide(shell("ci-bot", "shop", "df -h; uptime"))
	allowed_by(d, "ci_read_only_commands")
	d.reasons == ["ci-bot may run read-only commands (df, uptime)"]
	allowed_by(decide(shell("ci-bot", "staging", "ls -l /var/log | grep -c error")), "ci_read_only_commands")
}

test_every_command_of_the_line_must_be_read_only_and_unwrapped if {
	every line in ["doas -u app ls /srv/app", "cat /etc/os-release | sudo tee /etc/motd", "uname -a"] {
		denied_by(decide(shell("ci-bot", "staging", line)), "default_deny")
	}
	denied_by(decide(shell("ci-bot", "staging", "ls $(cat dirs.txt)")), "default_deny")
}

test_read_only_commands_are_for_ci_services_only if {
	every who in ["bob", "nobody"] {
		denied_by(decide(shell(who, "shop", "df -h; uptime")), "default_deny")
	}
}

# The fixtures are the analyser's: every line that parses lists its commands.
test_the_fixtures_are_analysed_lines if {
	every line, facts in command_facts {
		facts.text == line
		facts.parsed == (count(facts.commands) > 0)
	}
}
