# Opening a session (input.request.action == "connect").
#
# Only identities configured in sluice.toml, holding a valid token, ever reach the policy,
# so every one of them may connect. What they may then run is decided statement by
# statement (sql.rego). To keep someone off a target altogether, add a deny rule here,
# e.g. on input.target.tags or input.identity.kind.
package sluice

import rego.v1

allow contains {
	"rule": "connect_configured_identity",
	"reason": sprintf("%s is a configured identity and may open sessions on %s", [input.identity.name, input.target.name]),
} if {
	input.request.action == "connect"
	input.identity.name != ""
}

# The server settings a client asks for when it connects (input.session.postgres.settings:
# PostgreSQL's startup settings and PGOPTIONS' -c name=value) are decided with the session. Those that
# would change who acts, or what a statement's analysis and its audit record mean, are
# refused; break-glass may still choose the role, as with SET (sql.rego: guarded_setting).
guarded_startup_settings := {
	"role": "it would act as a different database role than the one sluice logs in with",
	"session_authorization": "it would act as a different database role than the one sluice logs in with",
	"session_replication_role": "it would switch off triggers and foreign keys, which policies and data rely on",
}

deny contains {
	"rule": "guarded_startup_setting",
	"reason": sprintf("the startup setting %s is not allowed: %s", [name, why]),
} if {
	input.request.action == "connect"
	some name, _ in startup_settings
	why := guarded_startup_settings[name]
	not startup_setting_exempt(name)
}

startup_setting_exempt(name) if {
	name in {"role", "session_authorization"}
	member_of(break_glass_groups)
}

# Backslashes that escape in ordinary string literals make the same text mean different
# statements to tools that assume the standard; sluice follows the setting, but nobody needs it.
deny contains {
	"rule": "guarded_startup_setting",
	"reason": "the startup setting standard_conforming_strings=off is not allowed: backslashes would escape in ordinary string literals",
} if {
	input.request.action == "connect"
	lower(startup_settings.standard_conforming_strings) in {"off", "false", "no", "0"}
}

# Client-only encodings: a character's second byte may be a quote or a backslash, so sluice
# refuses any statement with text beyond ASCII under them. Refuse them at the door instead.
client_only_encodings := {"sjis", "mskanji", "shiftjis", "win932", "windows932", "shiftjis2004", "big5", "win950", "windows950", "gbk", "win936", "windows936", "gb18030", "johab", "uhc", "win949", "windows949"}

deny contains {
	"rule": "guarded_startup_setting",
	"reason": sprintf("the startup setting client_encoding=%s is not allowed: use UTF8", [startup_settings.client_encoding]),
} if {
	input.request.action == "connect"
	encoding_key(startup_settings.client_encoding) in client_only_encodings
}

# Schema version 2 keeps them in the session's postgres section; a document written for
# version 1 (older tests, `sluice policy eval` inputs) has them only under their old name.
startup_settings := input.session.postgres.settings if input.session.postgres else := input.session.settings

# An encoding name as PostgreSQL compares them: lower case, without punctuation.
encoding_key(name) := lower(regex.replace(name, "[^A-Za-z0-9]", ""))
