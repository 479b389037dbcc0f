# SQL statements (input.request.action == "statement").
#
# Guardrails (deny) come first; they hold whatever groups an identity is in. Then the grants
# (allow): what each group may run, by statement kind. A statement no grant covers is denied
# by decision.rego. Statement kinds: read, write, ddl, procedural, session_change,
# transaction, utility (see docs/policy.md).
package sluice

import rego.v1

# ---------------------------------------------------------------------------------------
# Guardrails
# ---------------------------------------------------------------------------------------

# UPDATE or DELETE without WHERE, anywhere in the statement (CTEs included): for everyone.
deny contains {
	"rule": "unbounded_write",
	"reason": sprintf("%s without WHERE on %s is denied for everyone", [unbounded_what, written_list]),
} if {
	statement.unbounded_write
}

unbounded_what := statement.command if {
	statement.command in {"UPDATE", "DELETE"}
} else := sprintf("UPDATE or DELETE inside %s", [statement.command])

written_list := concat(", ", statement.tables_written) if {
	count(statement.tables_written) > 0
} else := "a table"

# Functions that reach outside the database session: the server's files, other servers,
# other sessions, the server's configuration, or SQL hidden in a string. For everyone.
# Not listed, on purpose: current_setting (reads a setting), lo_from_bytea (creates a
# large object inside the database; only lo_export could take it out).
dangerous_functions := {
	"pg_read_file": "reads files on the database server",
	"pg_read_binary_file": "reads files on the database server",
	"pg_stat_file": "inspects files on the database server",
	"pg_ls_dir": "lists directories on the database server",
	"pg_ls_logdir": "lists directories on the database server",
	"pg_ls_waldir": "lists directories on the database server",
	"pg_ls_tmpdir": "lists directories on the database server",
	"pg_file_write": "writes files on the database server",
	"lo_import": "reads a file on the database server into the database",
	"lo_export": "writes a file on the database server",
	"dblink": "connects from the database server to other servers",
	"dblink_exec": "connects from the database server to other servers",
	"dblink_connect": "connects from the database server to other servers",
	"dblink_connect_u": "connects from the database server to other servers",
	"dblink_send_query": "connects from the database server to other servers",
	"pg_terminate_backend": "ends other sessions",
	"pg_cancel_backend": "cancels other sessions' statements",
	"set_config": "changes settings such as role and search_path without a SET statement",
	"pg_reload_conf": "reloads the server's configuration",
	"pg_rotate_logfile": "rotates the server's log file",
	"pg_promote": "promotes a standby server",
	"query_to_xml": "runs SQL passed as a string, which the gateway cannot inspect",
	"query_to_xml_and_xmlschema": "runs SQL passed as a string, which the gateway cannot inspect",
	"table_to_xml": "reads a table named in a string, which the gateway cannot inspect",
	"table_to_xml_and_xmlschema": "reads a table named in a string, which the gateway cannot inspect",
	"schema_to_xml": "reads the tables of a schema named in a string",
	"database_to_xml": "reads every table of the database",
	# MySQL and MariaDB (request.dialect == "mysql"): the same intent for their names.
	"load_file": "reads files on the database server",
	"sys_exec": "runs programs on the database server (a UDF)",
	"sys_eval": "runs programs on the database server (a UDF)",
	"sys_get": "reads the database server's environment (a UDF)",
	"sys_set": "changes the database server's environment (a UDF)",
}

deny contains {
	"rule": "dangerous_function",
	"reason": sprintf("function %s %s and is denied for everyone", [name, why]),
} if {
	some f in statement.functions
	name := function_name(f)
	why := dangerous_functions[name]
}

# The gateway lists functions by bare lower-case name; should a schema or quotes ever come
# along (pg_catalog.pg_read_file), the lists above must still match.
function_name(f) := lower(trim(parts[count(parts) - 1], "\"")) if parts := split(f, ".")

# Code whose effect the gateway cannot read from the statement: DO blocks, CALL, EXECUTE of
# a prepared statement, COPY to or from a server program. Break-glass only.
deny contains {
	"rule": "procedural_code",
	"reason": sprintf("%s runs code the gateway cannot inspect; only break-glass may run it", [statement.command]),
} if {
	statement.kind == "procedural"
	not member_of(break_glass_groups)
}

# Session settings that change who the session is or how names resolve. Break-glass only.
guarded_settings := {
	"role": "it would act as a different database role than the one sluice logs in with",
	"session_authorization": "it would act as a different database role than the one sluice logs in with",
	"search_path": "the gateway resolves unqualified table names against the search path and must know it",
}

deny contains {
	"rule": "guarded_setting",
	"reason": sprintf("%s is only allowed for break-glass: %s", [setting_change, why]),
} if {
	why := guarded_settings[statement.session_change.setting]
	not member_of(break_glass_groups)
}

# MySQL's SET GLOBAL / SET PERSIST change the server for every session, not this one; the
# gateway names them `global.<setting>`.
deny contains {
	"rule": "global_setting",
	"reason": sprintf("%s changes the server for every session and is only allowed for break-glass", [setting_change]),
} if {
	startswith(statement.session_change.setting, "global.")
	not member_of(break_glass_groups)
}

setting_change := sprintf("SET %s TO %s", [statement.session_change.setting, statement.session_change.value]) if {
	is_string(statement.session_change.value)
} else := sprintf("RESET %s", [statement.session_change.setting])

# Schema changes on production go through migrations, never by hand. Targets count as
# production when one of these tags matches (sluice.toml: [[targets]] tags = {...}).
# Large objects live outside tables, where masking and the table rules cannot follow their
# data: people may not read or write them on production. psql's \lo_import, \lo_export and
# \lo_unlink call these through the FunctionCall message, which the gateway decides as
# `SELECT schema.function(...)`, so the same rule holds for them.
large_object_functions := {
	"lo_open", "lo_close", "loread", "lowrite", "lo_creat", "lo_create", "lo_unlink",
	"lo_lseek", "lo_lseek64", "lo_tell", "lo_tell64", "lo_truncate", "lo_truncate64",
	"lo_get", "lo_put", "lo_from_bytea",
}

deny contains {
	"rule": "large_objects",
	"reason": sprintf("function %s reads or writes large objects, which people may not use on production target %s", [name, input.target.name]),
} if {
	some f in statement.functions
	name := function_name(f)
	name in large_object_functions
	person_or_their_agent
	production
}

production_tags := {"env": "production", "environment": "production"}

production if {
	some key, value in production_tags
	input.target.tags[key] == value
}

deny contains {
	"rule": "no_human_ddl_in_production",
	"reason": sprintf("%s (DDL) on production target %s is denied for people; ship it as a migration", [statement.command, input.target.name]),
} if {
	statement.kind == "ddl"
	person_or_their_agent
	production
}

# What binds a person binds the agent they start with a per-task credential (kind "agent",
# same name and groups): an agent never gets more than the person behind it.
person_or_their_agent if input.identity.kind in {"human", "agent"}

# ---------------------------------------------------------------------------------------
# Grants
# ---------------------------------------------------------------------------------------

# Analysts read. Transactions, SHOW and ordinary settings (statement_timeout, DateStyle, as
# BI tools send them) change no data, so they may run those too, and MySQL's UNLOCK TABLES,
# which only releases the session's own locks (mysqldump ends with it).
analyst_utility_commands := {"SHOW", "UNLOCK"}

allow contains {
	"rule": "analysts_read_only",
	"reason": sprintf("%s is in an analyst group, which may read but not change data", [input.identity.name]),
} if {
	member_of(analyst_groups)
	analyst_may_run
}

analyst_may_run if statement.kind in {"read", "transaction", "session_change"}

analyst_may_run if {
	statement.kind == "utility"
	statement.command in analyst_utility_commands
}

# Developers read, write and change schemas (not on production: see the guardrail).
allow contains {
	"rule": "developers_read_write_ddl",
	"reason": sprintf("%s is in a developer group, which may run %s statements", [input.identity.name, statement.kind]),
} if {
	member_of(developer_groups)
	statement.kind in {"read", "write", "ddl", "transaction", "session_change", "utility"}
}

# CI and similar automation read and write data, but do not change schemas.
allow contains {
	"rule": "ci_read_write",
	"reason": sprintf("%s is in a CI group, which may run %s statements", [input.identity.name, statement.kind]),
} if {
	member_of(ci_groups)
	statement.kind in {"read", "write", "transaction", "session_change", "utility"}
}

# A migration tool changes schemas and nothing else. What it needs besides DDL:
# - transactions, to apply each migration atomically;
# - lock_timeout / statement_timeout, so an ALTER waiting for a lock gives up instead of
#   queueing the application's traffic behind it;
# - its own bookkeeping table (which migrations ran) and an advisory lock against
#   concurrent runs. Application tables it may neither read nor write, and DDL that copies
#   data (CREATE TABLE AS, SELECT INTO) is not schema work.
migration_settings := {"lock_timeout", "statement_timeout"}

migration_tables := {"public._sqlx_migrations", "public.schema_migrations", "public.flyway_schema_history"}

migration_functions := {
	"pg_advisory_lock", "pg_advisory_unlock", "pg_try_advisory_lock",
	"pg_advisory_xact_lock", "current_database", "current_schema", "version",
}

allow contains {
	"rule": "migrations_ddl_only",
	"reason": sprintf("%s is a migration service, which may change schemas", [input.identity.name]),
} if {
	member_of(migration_groups)
	input.identity.kind == "service"
	migration_may_run
}

migration_may_run if {
	statement.kind == "ddl"
	not statement.command in {"CREATE TABLE AS", "SELECT"}
}

migration_may_run if statement.kind == "transaction"

migration_may_run if statement.session_change.setting in migration_settings

migration_may_run if {
	statement.kind in {"read", "write"}
	tables := {t | some t in statement.tables_read} | {t | some t in statement.tables_written}
	count(tables) > 0
	every t in tables { t in migration_tables }
	every f in statement.functions { function_name(f) in migration_functions }
}

migration_may_run if {
	statement.kind == "read"
	count(statement.tables_read) == 0
	every f in statement.functions { function_name(f) in migration_functions }
}

# Break-glass may run any statement; the guardrails above still apply, except the two that
# name break-glass.
allow contains {
	"rule": "break_glass",
	"reason": sprintf("%s is in a break-glass group", [input.identity.name]),
} if {
	member_of(break_glass_groups)
	statement
}
