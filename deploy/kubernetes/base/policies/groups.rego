# Who is who: the group names the rules refer to. Identities get their groups from
# `groups = [...]` in the [[identities]] of sluice.toml. Put several names in a set to
# let more than one group share a role.
package sluice

import rego.v1

# Read-only access to data (sql.rego: analysts_read_only).
analyst_groups := {"analysts"}

# Read, write and (outside production) change schemas (developers_read_write_ddl).
developer_groups := {"developers"}

# People on call: they may run commands on production targets over SSH (ssh.rego:
# oncall_commands); sudo there waits for a reviewer.
oncall_groups := {"oncall"}

# Automation that reads and writes data (ci_read_write).
ci_groups := {"ci"}

# Schema migration tools; only for identities of kind "service" (migrations_ddl_only).
migration_groups := {"migrations"}

# Personal data in clear. Everyone else's results are masked (mask.rego: mask_rules), and
# they may not run the statements masking cannot follow (mask_copy_out, mask_schema_change).
pii_reader_groups := {"pii_readers"}

# Emergency access: exempt from the procedural-code and session-setting guardrails
# (break_glass). Everything else still applies to them.
break_glass_groups := {"break-glass"}

# True when the identity is in at least one of `groups`.
member_of(groups) if {
	some group in input.identity.groups
	group in groups
}
