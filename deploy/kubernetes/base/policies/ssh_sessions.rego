# What may run in an SSH session channel (docs/ssh-connection.md): shells, subsystems and the
# environment a client asks to set. Commands, channel opens and files are in ssh.rego. Each
# rule names its request type, so none can match another kind of request.
package sluice

import rego.v1

session_request := input.request.channel if input.request.kind == "channel"

# People who work on hosts get a shell outside production; on production a shell waits for
# one reviewer of the on-call group: typed lines are an audit aid, not a boundary, so a
# shell there is a window someone approves. Automation never gets a shell: it runs commands,
# each decided in full.
shell_groups := {"developers", "oncall"}

oncall_reviewers := {"oncall", "dba"}

allow contains {
	"rule": "people_shells",
	"reason": sprintf("%s may open a shell on %s", [input.identity.name, input.target.name]),
} if {
	session_request.type == "shell"
	input.identity.kind == "human"
	member_of(shell_groups)
}

approvals contains {
	"groups": sort(oncall_reviewers),
	"approvals": 1,
	"reason": sprintf("an interactive shell on production host %s", [input.target.name]),
} if {
	session_request.type == "shell"
	production
}

# SFTP: every file operation in it is decided on its own (ssh.rego, files).
allow contains {
	"rule": "sftp_subsystem",
	"reason": sprintf("%s may use SFTP on %s; each file operation is decided", [input.identity.name, input.target.name]),
} if {
	session_request.type == "subsystem"
	session_request.name == "sftp"
}

# The locale a client sends (OpenSSH's SendEnv LANG LC_*); nothing that changes what
# programs load or run (LD_PRELOAD, PATH, BASH_ENV).
allow contains {
	"rule": "locale_env",
	"reason": sprintf("%s is a locale setting", [session_request.name]),
} if {
	session_request.type == "env"
	locale_variable(session_request.name)
}

locale_variable(name) if name == "LANG"

locale_variable(name) if startswith(name, "LC_")
