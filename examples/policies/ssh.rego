# SSH requests: commands (input.request.kind == "command"), channels ("channel") and file
# operations over SFTP or SCP ("file"). No shipped protocol sends these yet; the rules are
# here so that the schema's kinds have tested examples (docs/policy.md, "The input
# document"). Each rule names its kind, so none can ever match a connect, an access request
# or a SQL statement.
package sluice

import rego.v1

# ---------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------

# The command being decided; undefined for other kinds.
shell_command := input.request.command if input.request.kind == "command"

# A line the gateway could not parse may run anything: its programs are unknown.
deny contains {
	"rule": "unparsed_command",
	"reason": sprintf("the command line %q could not be parsed, so what it runs is unknown", [shell_command.text]),
} if {
	shell_command.parsed == false
}

# rm, recursive or forced, of the root directory: for everyone. Only the first simple command
# has its arguments in `argv`; the read-only grant below lists every program of the line.
deny contains {
	"rule": "destructive_command",
	"reason": sprintf("%s would remove the whole file system and is denied for everyone", [concat(" ", shell_command.argv)]),
} if {
	program_name(shell_command.argv[0]) == "rm"
	some flag in shell_command.argv
	rm_sweeping_flag(flag)
	some path in shell_command.argv
	path in {"/", "/*"}
}

rm_sweeping_flag(flag) if flag in {"--recursive", "--force", "--no-preserve-root"}

rm_sweeping_flag(flag) if {
	regex.match(`^-[A-Za-z]*[rRf]`, flag)
}

# A program as invoked, without its directory: /bin/rm is rm.
program_name(p) := parts[count(parts) - 1] if parts := split(p, "/")

# Programs that only look. Every program of the line must be one of them, so `ls | sh` is
# not covered.
read_only_programs := {"ls", "cat", "uptime", "df", "du", "free", "ps", "whoami", "hostname", "date", "grep", "head", "tail", "wc"}

allow contains {
	"rule": "ci_read_only_commands",
	"reason": sprintf("%s may run read-only commands (%s)", [input.identity.name, concat(", ", shell_command.programs)]),
} if {
	shell_command.parsed
	member_of(ci_groups)
	input.identity.kind == "service"
	count(shell_command.programs) > 0
	every program in shell_command.programs {
		program_name(program) in read_only_programs
	}
}

# ---------------------------------------------------------------------------------------
# Channels
# ---------------------------------------------------------------------------------------

channel := input.request.channel if input.request.kind == "channel"

# Channels that open a way into the client's machine rather than onto the target.
guarded_channels := {
	"forwarded-tcpip": "remote port forwarding would let the target reach into the client's network",
	"x11": "X11 forwarding would let the target read the client's screen and keyboard",
	"auth-agent": "agent forwarding would let the target use the client's SSH keys",
}

deny contains {
	"rule": "guarded_channel",
	"reason": sprintf("%s channels are denied for everyone: %s", [channel.type, why]),
} if {
	why := guarded_channels[channel.type]
}

# A session channel carries a shell, a command or SFTP, each decided on its own.
allow contains {
	"rule": "session_channel",
	"reason": sprintf("%s may open session channels on %s", [input.identity.name, input.target.name]),
} if {
	channel.type == "session"
}

# ---------------------------------------------------------------------------------------
# Files (SFTP, SCP)
# ---------------------------------------------------------------------------------------

file := input.request.file if input.request.kind == "file"

# Operations that change the target's files.
file_writes := {"write", "create", "remove", "rename", "mkdir", "rmdir", "setstat", "symlink"}

deny contains {
	"rule": "file_write",
	"reason": sprintf("%s of %s is only allowed for developers", [file.operation, file.path]),
} if {
	file.operation in file_writes
	not member_of(developer_groups)
}

allow contains {
	"rule": "developers_files",
	"reason": sprintf("%s may read and write files on %s", [input.identity.name, input.target.name]),
} if {
	file
	member_of(developer_groups)
}

allow contains {
	"rule": "ci_read_files",
	"reason": sprintf("%s may read files on %s", [input.identity.name, input.target.name]),
} if {
	file
	not file.operation in file_writes
	member_of(ci_groups)
}
