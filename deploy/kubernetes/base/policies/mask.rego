# Masking: what the gateway hides in the results of an allowed statement, and the statements
# masking cannot follow.
#
# An allowing decision may carry `mask` (docs/policy.md). Column rules replace whole values
# by the column they come from; content rules run detectors over every other value: free
# text, JSON, computed columns, notices, COPY data. Here every statement of an identity
# outside the PII reader groups (groups.rego) is masked; their members see values in clear.
# Connects carry no mask: they return no data.
#
# Masking works on what comes back to the client. Data a statement copies inside the
# database, and schema changes that rename or re-derive columns, leave the column rules
# behind; the guardrails below deny those to identities whose results are masked.
package sluice

import rego.v1

# Whole columns. `column` is schema.table.column, each part a glob with `*`, or a bare column
# name glob, which matches a result column of that name from any table, computed ones
# included. The first rule that matches a column applies: specific rules come first, the
# fallbacks last. Strategies: "redact", {"keep_last": N}, "email_domain", "token" (the same
# value always gives the same token, so joins and GROUP BY still work), "null". MySQL has no
# schemas: its columns are database.table.column, so the same table in the MySQL database
# `shop` needs rules of its own, which mirror the PostgreSQL ones line for line.
mask_columns := [
	{"column": "public.customers.name", "strategy": "redact"},
	{"column": "public.customers.email", "strategy": "email_domain"},
	{"column": "public.customers.ssn", "strategy": "redact"},
	{"column": "public.customers.card_number", "strategy": {"keep_last": 4}},
	{"column": "public.customers.phone", "strategy": {"keep_last": 4}},
	{"column": "shop.customers.name", "strategy": "redact"},
	{"column": "shop.customers.email", "strategy": "email_domain"},
	{"column": "shop.customers.ssn", "strategy": "redact"},
	{"column": "shop.customers.card_number", "strategy": {"keep_last": 4}},
	{"column": "shop.customers.phone", "strategy": {"keep_last": 4}},
	{"column": "*ssn*", "strategy": "redact"},
]

# Detectors, over every value no column rule covers. "*" is every built-in detector (email,
# us_ssn, payment_card, iban, phone, ipv4, ipv6, jwt, private_key, aws_access_key,
# github_token, slack_token, password); a detector's own entry overrides it. Emails in free
# text become tokens, so that they can still be matched up across rows and tables.
mask_content := [
	{"detector": "*", "strategy": "redact"},
	{"detector": "email", "strategy": "token"},
]

mask_rules := {"columns": mask_columns, "content": mask_content}

# The results of this statement are masked.
masked if {
	statement
	not member_of(pii_reader_groups)
}

# What an SSH command or shell prints goes through the detectors of secrets and payment data,
# not the ones that would blank out ordinary terminal output (addresses, phone-like numbers,
# e-mail addresses in logs).
terminal_mask_rules := {"columns": [], "content": [
	{"detector": "payment_card", "strategy": "redact"},
	{"detector": "us_ssn", "strategy": "redact"},
	{"detector": "iban", "strategy": "redact"},
	{"detector": "private_key", "strategy": "redact"},
	{"detector": "aws_access_key", "strategy": "redact"},
	{"detector": "github_token", "strategy": "redact"},
	{"detector": "slack_token", "strategy": "redact"},
	{"detector": "jwt", "strategy": "redact"},
]}

# A command's or a shell's output on an SSH target is masked for those outside the PII
# readers, to the client and in the recording (docs/ssh-connection.md, "Masking").
terminal_masked if {
	input.request.kind == "command"
	not input.request.command.interactive
	not member_of(pii_reader_groups)
}

terminal_masked if {
	input.request.kind == "channel"
	input.request.channel.type == "shell"
	not member_of(pii_reader_groups)
}

# HTTP services' and the Kubernetes API's JSON answers: fields by name wherever they sit in
# the document, the detectors over every other string and over log lines (docs/masking.md,
# "HTTP and Kubernetes").
api_mask_rules := {
	"columns": [
		{"column": "email", "strategy": "email_domain"},
		{"column": "*ssn*", "strategy": "redact"},
		{"column": "card_number", "strategy": {"keep_last": 4}},
		{"column": "phone", "strategy": {"keep_last": 4}},
	],
	"content": array.concat(terminal_mask_rules.content, [{"detector": "email", "strategy": "token"}]),
}

api_masked if {
	input.request.kind in {"http", "kube"}
	not member_of(pii_reader_groups)
}

# The masking part of an allowing decision (decision.rego: allowed).
mask_part := {"mask": mask_rules} if masked
else := {"mask": terminal_mask_rules} if terminal_masked
else := {"mask": api_mask_rules} if api_masked
else := {}

# ---------------------------------------------------------------------------------------
# Guardrails: statements masking cannot follow
# ---------------------------------------------------------------------------------------

# They apply where a grant would allow the statement (otherwise it is denied anyway, and the
# default denial names what was asked), to masked identities that may read data. A
# migration service (migrations_ddl_only) reads no application data and changes schemas by
# reviewed code, so it is left alone; a migration that renames a masked column must change
# mask_columns with it.
data_groups := analyst_groups | developer_groups | ci_groups | break_glass_groups

migration_only if {
	member_of(migration_groups)
	input.identity.kind == "service"
	not member_of(data_groups)
}

mask_guarded if {
	masked
	count(allow) > 0
	not migration_only
}

# Copies inside the database or out to the server's files: CREATE TABLE AS and SELECT ...
# INTO (EXPLAIN ANALYZE of them included), writes that read tables (INSERT ... SELECT,
# UPDATE ... FROM, MERGE ... USING, data-modifying CTEs), COPY to a server file or program.
# The copy's columns are not the ones the column rules name. COPY ... TO STDOUT is a read:
# its data goes to the client and is masked on the way. Copies that read no table (CREATE
# TABLE AS SELECT f()) hold nothing a direct SELECT f() would not show.
copy_commands := {"CREATE TABLE AS", "SELECT", "EXPLAIN"}

copies_data if {
	statement.kind == "ddl"
	statement.command in copy_commands
	count(statement.tables_read) > 0
}

copies_data if {
	statement.kind == "write"
	count(statement.tables_read) > 0
}

copies_data if {
	statement.kind == "procedural"
	statement.command == "COPY"
	count(statement.tables_read) > 0
}

deny contains {
	"rule": "mask_copy_out",
	"reason": sprintf("%s can copy data of %s %s, where masking cannot follow it; %s gets masked results, so only members of %s may copy data", [
		statement.command,
		concat(", ", statement.tables_read),
		copy_destination,
		input.identity.name,
		pii_reader_list,
	]),
} if {
	mask_guarded
	copies_data
}

copy_destination := sprintf("into %s", [concat(", ", statement.tables_written)]) if {
	count(statement.tables_written) > 0
} else := "to a file or program on the database server" if {
	statement.kind == "procedural"
} else := "elsewhere"

pii_reader_list := concat(", ", sort(pii_reader_groups))

# Schema changes that could rename a column or re-derive it under another name (ALTER TABLE
# ... RENAME or ADD ... GENERATED, CREATE VIEW, CREATE FUNCTION, CREATE RULE, CREATE SCHEMA
# with a view in it, ...), after which the column rules no longer match it. Only DDL known not
# to do that is left; CREATE TABLE AS and SELECT ... INTO are copies (above).
mask_safe_ddl := {"CREATE TABLE", "CREATE INDEX", "CREATE SEQUENCE", "ALTER SEQUENCE", "CREATE TYPE", "DROP", "COMMENT"}

deny contains {
	"rule": "mask_schema_change",
	"reason": sprintf("%s%s could rename or re-derive columns so that masking cannot follow them; %s gets masked results, so only members of %s may run it", [
		statement.command,
		changed_what,
		input.identity.name,
		pii_reader_list,
	]),
} if {
	mask_guarded
	statement.kind == "ddl"
	not statement.command in mask_safe_ddl
	not statement.command in copy_commands
}

changed_what := sprintf(" on %s", [concat(", ", statement.tables_written)]) if {
	count(statement.tables_written) > 0
} else := ""

# Predicates as oracles. A statement that picks rows by a masked column's value answers
# questions about it: `SELECT count(*) FROM customers WHERE ssn = '123-45-6789'` says whether
# that is someone's SSN, `WHERE ssn LIKE '1%'` reads it a digit at a time, and a range halves
# the candidates with each guess. sluice lists the masked columns a statement compares
# (statement.masked_columns_in_predicates: column, clause, comparison, strategy), filled in
# for statements whose results are masked, which it then decides again. Equality, pattern
# and range comparisons of a masked column are denied in every clause (WHERE, JOIN, HAVING,
# FILTER, ORDER BY and window expressions such as `ORDER BY ssn = '...'`), with one
# exception: an equality join on a tokenized column, which the token strategy exists for (a
# masked user still joins customers to their orders by email). Plain ordering and grouping
# (`ORDER BY ssn`, `GROUP BY ssn`) stay allowed: they reveal the order of values and which
# rows share one, never a value, and the results themselves are masked.
oracle_comparisons := {"equality", "pattern", "range"}

token_join(p) if {
	p.clause == "join"
	p.comparison == "equality"
	p.strategy == "token"
}

oracle_predicates contains p if {
	some p in statement.masked_columns_in_predicates
	p.comparison in oracle_comparisons
	not token_join(p)
}

deny contains {
	"rule": "mask_predicate_oracle",
	"reason": sprintf("%s compares the masked column%s %s (%s), which would answer questions about values masking hides from %s; only members of %s may filter on them", [
		statement.command,
		plural_s(columns),
		concat(", ", columns),
		concat(", ", sort({sprintf("%s %s", [p.comparison, p.clause]) | some p in oracle_predicates})),
		input.identity.name,
		pii_reader_list,
	]),
} if {
	mask_guarded
	count(oracle_predicates) > 0
	columns := sort({p.column | some p in oracle_predicates})
}

plural_s(items) := "s" if count(items) > 1 else := ""

