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

# The command being decided; undefined for other kinds. Its facts come from sluice-shell,
# which parses the line as bash: `commands` lists every simple command it would run, wrappers
# (sudo, env, xargs, find -exec, ...) peeled off and `sh -c` strings read, and `unresolved`
# says why the rest cannot be known without running it (docs/policy.md, "command").
shell_command := input.request.command if input.request.kind == "command"

# A line the gateway could not parse may run anything: its programs are unknown.
deny contains {
	"rule": "unparsed_command",
	"reason": sprintf("the command line %q could not be parsed, so what it runs is unknown", [shell_command.text]),
} if {
	shell_command.parsed == false
}

# rm, recursive or forced, of the root directory: for everyone, however it is written
# (`r''m`, `\rm`, `/usr/bin/../bin/rm`, behind sudo, inside `sh -c`), since `commands` has the
# name and the words after quote removal.
deny contains {
	"rule": "destructive_command",
	"reason": sprintf("%s would remove the whole file system and is denied for everyone", [concat(" ", command.argv)]),
} if {
	some command in shell_command.commands
	sweeping_rm(command)
	some operand in rm_operands(command)
	root_path(operand)
}

# The same after `cd /`: `cd / && rm -rf *` removes what `rm -rf /*` would. The order of the
# two is not checked; a line that does both either way round is denied.
deny contains {
	"rule": "destructive_command",
	"reason": sprintf("%s after cd %s would remove the whole file system and is denied for everyone", [concat(" ", command.argv), dir]),
} if {
	some cd in shell_command.commands
	cd.name == "cd"
	some dir in array.slice(cd.argv, 1, count(cd.argv))
	root_path(dir)
	some command in shell_command.commands
	sweeping_rm(command)
	some operand in rm_operands(command)
	operand in {".", "./", "*", "./*", ".*", "./.", "/*"}
}

sweeping_rm(command) if {
	command.name == "rm"
	some flag in array.slice(command.argv, 1, count(command.argv))
	rm_sweeping_flag(flag)
}

# Short options in any cluster (`-rf`, `-fR`, `-r -f`), long ones by any prefix getopt takes
# (`--recursive`, `--rec`, `--force`, `--no-preserve-root`).
rm_sweeping_flag(flag) if regex.match(`^-[A-Za-z]*[rRf]`, flag)

rm_sweeping_flag(flag) if {
	some long in {"--recursive", "--force", "--no-preserve-root"}
	count(flag) >= 3
	startswith(long, flag)
}

rm_operands(command) := [word |
	some word in array.slice(command.argv, 1, count(command.argv))
	not startswith(word, "-")
]

# `/`, `//`, `/.`, `/*`, `/./`, `/..`: paths that name the root or everything in it.
root_path(path) if regex.match(`^/[/.*]*$`, path)

# Code that arrives from the network or was decoded on the spot and goes straight into a
# shell or interpreter: what runs was never on the command line.
deny contains {
	"rule": "fetch_piped_to_shell",
	"reason": sprintf("%q runs code it downloads or decodes (%s), which is denied for everyone", [shell_command.text, concat(", ", piped)]),
} if {
	piped := [token | some token in shell_command.unresolved; token in {"fetch_to_shell", "decode_to_shell"}]
	count(piped) > 0
}

# On production, a line whose effect cannot be read from it (a substitution, a variable
# program, eval, a shell reading stdin, ...) is denied: the decision would be a guess.
deny contains {
	"rule": "unresolved_command",
	"reason": sprintf("%q on production target %s cannot be fully analysed (%s)", [shell_command.text, input.target.name, concat(", ", shell_command.unresolved)]),
} if {
	count(shell_command.unresolved) > 0
	production
}

# Programs that only look. Every command of the line, and every wrapper that starts one,
# must be one of them and nothing may be unresolved, so neither `ls | sh` nor `sudo cat
# /etc/shadow` nor `cat $(...)` is covered.
read_only_programs := {"ls", "cat", "uptime", "df", "du", "free", "ps", "whoami", "hostname", "date", "grep", "head", "tail", "wc"}

allow contains {
	"rule": "ci_read_only_commands",
	"reason": sprintf("%s may run read-only commands (%s)", [input.identity.name, concat(", ", [c.name | some c in shell_command.commands])]),
} if {
	shell_command.parsed
	member_of(ci_groups)
	input.identity.kind == "service"
	count(shell_command.commands) > 0
	count(shell_command.unresolved) == 0
	every command in shell_command.commands {
		command.name in read_only_programs
		count(command.wrappers) == 0
	}
}

# Developers run what they like outside production; the guardrails above still apply.
allow contains {
	"rule": "developers_commands",
	"reason": sprintf("%s may run commands on %s, which is not production", [input.identity.name, input.target.name]),
} if {
	shell_command.parsed
	member_of(developer_groups)
	not production
}

# On production, the people on call run commands; sudo and doas there wait for a reviewer.
allow contains {
	"rule": "oncall_commands",
	"reason": sprintf("%s is on call and may run commands on %s", [input.identity.name, input.target.name]),
} if {
	shell_command.parsed
	member_of(oncall_groups)
	production
}

# sudo_on_production: who approves root on production: the example's one reviewer group (approval.rego); a site
# would name its operations group here.
privilege_reviewer_groups := {"dba"}

privilege_wrappers := {"sudo", "doas"}

approvals contains {
	"groups": sort(privilege_reviewer_groups),
	"approvals": 1,
	"reason": sprintf("%q runs as another user (%s) on production target %s", [shell_command.text, concat(", ", sort(elevated)), input.target.name]),
} if {
	production
	elevated := {name |
		some command in shell_command.commands
		some name in array.concat(command.wrappers, [command.name])
		name in privilege_wrappers
	}
	count(elevated) > 0
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
