# Masking: who gets masked results and with which rules, and the statements masking cannot
# follow.
package sluice_test

import rego.v1

select_customers := {
	"text": "SELECT name, email, ssn, card_number, notes FROM customers LIMIT $1",
	"tables_read": ["public.customers"],
	"parameter_count": 1,
}

create_table_as := {
	"text": "CREATE TABLE leak AS SELECT * FROM customers",
	"kind": "ddl", "command": "CREATE TABLE AS",
	"tables_read": ["public.customers"], "tables_written": ["public.leak"],
}

select_into := {
	"text": "SELECT * INTO leak FROM customers",
	"kind": "ddl", "command": "SELECT",
	"tables_read": ["public.customers"], "tables_written": ["public.leak"],
}

insert_select := {
	"text": "INSERT INTO leak SELECT * FROM customers",
	"kind": "write", "command": "INSERT",
	"tables_read": ["public.customers"], "tables_written": ["public.leak"],
}

alter_rename := {
	"text": "ALTER TABLE customers RENAME COLUMN ssn TO x",
	"kind": "ddl", "command": "RENAME", "tables_written": ["public.customers"],
}

alter_add_generated := {
	"text": "ALTER TABLE customers ADD x text GENERATED ALWAYS AS (ssn) STORED",
	"kind": "ddl", "command": "ALTER TABLE", "tables_written": ["public.customers"],
}

create_view := {
	"text": "CREATE VIEW v AS SELECT ssn AS x FROM customers",
	"kind": "ddl", "command": "CREATE VIEW",
	"tables_read": ["public.customers"], "tables_written": ["public.v"],
}

create_function := {
	"text": "CREATE FUNCTION f() RETURNS SETOF text LANGUAGE sql AS $1",
	"kind": "ddl", "command": "CREATE FUNCTION", "functions": ["f"],
}

copy_to_file := {
	"text": "COPY customers TO '/tmp/customers.csv'",
	"kind": "procedural", "command": "COPY", "tables_read": ["public.customers"],
}

copy_to_stdout := {
	"text": "COPY customers TO STDOUT",
	"kind": "read", "command": "COPY", "tables_read": ["public.customers"],
}

masked_by(d, rule) if {
	allowed_by(d, rule)
	d.mask == data.sluice.mask_rules
}

clear_by(d, rule) if {
	allowed_by(d, rule)
	not "mask" in object.keys(d)
}

# --- mask_rules ----------------------------------------------------------------------------

test_developers_get_masked_results if {
	d := decide(sql("alice", "shop", select_customers))
	allowed_by(d, "developers_read_write_ddl")
	d.mask == {
		"columns": [
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
		],
		"content": [
			{"detector": "*", "strategy": "redact"},
			{"detector": "email", "strategy": "token"},
		],
	}
}

test_every_allowed_statement_of_everyone_else_is_masked if {
	every who, rule in {"alice": "developers_read_write_ddl", "bob": "analysts_read_only", "ci-bot": "ci_read_write", "carol": "break_glass"} {
		masked_by(decide(sql(who, "shop", select_orders)), rule)
	}
	every s in [update_order, begin, {"kind": "utility", "command": "VACUUM"}, copy_to_stdout] {
		masked_by(decide(sql("alice", "staging", s)), "developers_read_write_ddl")
	}
	masked_by(decide(sql("migrator", "shop", create_index)), "migrations_ddl_only")
	masked_by(decide(sql("carol", "shop", do_block)), "break_glass")
}

test_pii_readers_see_clear_values if {
	every s in [select_customers, update_order, copy_to_stdout] {
		clear_by(decide(sql("dora", "staging", s)), "developers_read_write_ddl")
	}
}

test_connects_carry_no_mask if {
	every who, _ in identities {
		clear_by(decide(connect(who, "shop")), "connect_configured_identity")
	}
}

test_denials_carry_no_mask if {
	d := decide(sql("alice", "staging", delete_all_orders))
	denied_by(d, "unbounded_write")
	not "mask" in object.keys(d)
	not "mask" in object.keys(decide(sql("nobody", "staging", select_customers)))
}

test_specific_column_rules_come_before_the_fallbacks if {
	columns := data.sluice.mask_columns
	columns[count(columns) - 1] == {"column": "*ssn*", "strategy": "redact"}
	every rule in array.slice(columns, 0, count(columns) - 1) {
		customers_column(rule.column)
	}
}

# The customers table as PostgreSQL (schema public) and MySQL (database shop) name it.
customers_column(column) if startswith(column, "public.customers.")

customers_column(column) if startswith(column, "shop.customers.")

# Each PostgreSQL rule has a MySQL twin with the same strategy, so the demo's two databases
# hide the same columns the same way.
test_mysql_customers_are_masked_like_postgresql_ones if {
	columns := data.sluice.mask_columns
	pg := {[trim_prefix(c.column, "public."), c.strategy] | some c in columns; startswith(c.column, "public.customers.")}
	my := {[trim_prefix(c.column, "shop."), c.strategy] | some c in columns; startswith(c.column, "shop.customers.")}
	count(pg) > 0
	pg == my
}

# --- mask_copy_out -------------------------------------------------------------------------

test_copies_out_of_reach_of_masking_are_denied if {
	every s in [create_table_as, select_into, insert_select] {
		denied_by(decide(sql("alice", "staging", s)), "mask_copy_out")
	}
	d := decide(sql("alice", "staging", create_table_as))
	d.reasons == ["CREATE TABLE AS can copy data of public.customers into public.leak, where masking cannot follow it; alice gets masked results, so only members of pii_readers may copy data"]
}

test_copies_are_allowed_for_pii_readers if {
	every s in [create_table_as, select_into, insert_select] {
		clear_by(decide(sql("dora", "staging", s)), "developers_read_write_ddl")
	}
}

test_writes_that_read_tables_are_copies if {
	every s in [
		{"text": "UPDATE orders o SET note = c.ssn FROM customers c WHERE c.id = o.customer_id", "kind": "write", "command": "UPDATE", "tables_read": ["public.customers"], "tables_written": ["public.orders"]},
		{"text": "MERGE INTO leak l USING customers c ON l.id = c.id WHEN NOT MATCHED THEN INSERT VALUES (c.ssn)", "kind": "write", "command": "MERGE", "tables_read": ["public.customers"], "tables_written": ["public.leak"]},
		{"text": "WITH i AS (INSERT INTO leak SELECT ssn FROM customers RETURNING 1) SELECT count(*) FROM i", "kind": "write", "command": "SELECT", "tables_read": ["public.customers"], "tables_written": ["public.leak"]},
	] {
		denied_by(decide(sql("ci-bot", "staging", s)), "mask_copy_out")
	}
}

test_writes_that_read_no_table_are_allowed if {
	masked_by(decide(sql("alice", "staging", {"kind": "write", "command": "INSERT", "tables_written": ["public.orders"]})), "developers_read_write_ddl")
	masked_by(decide(sql("ci-bot", "shop", update_order)), "ci_read_write")
}

test_copy_to_a_server_file_is_denied_even_for_break_glass if {
	d := decide(sql("carol", "shop", copy_to_file))
	denied_by(d, "mask_copy_out")
	d.reasons == ["COPY can copy data of public.customers to a file or program on the database server, where masking cannot follow it; carol gets masked results, so only members of pii_readers may copy data"]
	doc := object.union(sql("carol", "shop", copy_to_file), {"identity": {"groups": ["break-glass", "pii_readers"]}})
	clear_by(decide(doc), "break_glass")
}

test_explain_analyze_of_a_copy_is_a_copy if {
	s := object.union(create_table_as, {"text": "EXPLAIN ANALYZE CREATE TABLE leak AS SELECT * FROM customers", "command": "EXPLAIN"})
	denied_by(decide(sql("alice", "staging", s)), "mask_copy_out")
}

test_copies_that_read_no_table_are_allowed if {
	s := {"text": "CREATE TABLE t AS SELECT $1 AS n", "kind": "ddl", "command": "CREATE TABLE AS", "tables_written": ["public.t"]}
	masked_by(decide(sql("alice", "staging", s)), "developers_read_write_ddl")
}

# Where no grant allows the statement, the default denial says so, as before.
test_copy_guardrail_applies_only_where_a_grant_allows if {
	denied_by(decide(sql("bob", "staging", select_into)), "default_deny")
	denied_by(decide(sql("ci-bot", "staging", create_table_as)), "default_deny")
	denied_by(decide(sql("alice", "staging", copy_to_file)), "procedural_code")
}

test_on_production_both_reasons_are_given if {
	d := decide(sql("alice", "shop", create_table_as))
	denied_by(d, "mask_copy_out")
	count(d.reasons) == 2
	some r in d.reasons
	startswith(r, "CREATE TABLE AS (DDL) on production target shop is denied for people")
}

# --- mask_schema_change --------------------------------------------------------------------

test_schema_changes_masking_cannot_follow_are_denied if {
	every s in [alter_rename, alter_add_generated, create_view, create_function] {
		denied_by(decide(sql("alice", "staging", s)), "mask_schema_change")
	}
	d := decide(sql("alice", "staging", alter_rename))
	d.reasons == ["RENAME on public.customers could rename or re-derive columns so that masking cannot follow them; alice gets masked results, so only members of pii_readers may run it"]
	e := decide(sql("alice", "staging", create_function))
	e.reasons == ["CREATE FUNCTION could rename or re-derive columns so that masking cannot follow them; alice gets masked results, so only members of pii_readers may run it"]
}

test_schema_changes_are_allowed_for_pii_readers if {
	every s in [alter_rename, alter_add_generated, create_view, create_function] {
		clear_by(decide(sql("dora", "staging", s)), "developers_read_write_ddl")
	}
}

test_ddl_that_keeps_columns_is_allowed if {
	every s in [
		create_index,
		{"text": "CREATE TABLE scratch (a int)", "kind": "ddl", "command": "CREATE TABLE", "tables_written": ["public.scratch"]},
		{"text": "DROP TABLE scratch", "kind": "ddl", "command": "DROP", "tables_written": ["public.scratch"]},
		{"text": "COMMENT ON TABLE orders IS $1", "kind": "ddl", "command": "COMMENT", "tables_written": ["public.orders"]},
	] {
		masked_by(decide(sql("alice", "staging", s)), "developers_read_write_ddl")
	}
}

test_migration_services_may_change_schemas if {
	every s in [alter_rename, create_view, create_function] {
		masked_by(decide(sql("migrator", "shop", s)), "migrations_ddl_only")
	}
}

test_migration_services_that_read_data_may_not if {
	doc := object.union(sql("migrator", "staging", alter_rename), {"identity": {"groups": ["migrations", "developers"]}})
	denied_by(decide(doc), "mask_schema_change")
}

# --- mask_predicate_oracle -----------------------------------------------------------------

masked_predicate(column, clause, comparison, strategy) := {"column": column, "clause": clause, "comparison": comparison, "strategy": strategy}

guess_ssn := {
	"text": "SELECT count(*) FROM customers WHERE ssn = $1",
	"tables_read": ["public.customers"],
	"masked_columns_in_predicates": [masked_predicate("public.customers.ssn", "where", "equality", "redact")],
}

test_predicates_that_read_masked_values_are_denied if {
	d := decide(sql("alice", "staging", guess_ssn))
	denied_by(d, "mask_predicate_oracle")
	d.reasons == ["SELECT compares the masked column public.customers.ssn (equality where), which would answer questions about values masking hides from alice; only members of pii_readers may filter on them"]
	every p in [
		masked_predicate("public.customers.ssn", "where", "pattern", "redact"),
		masked_predicate("public.customers.card_number", "where", "range", "keep_last"),
		masked_predicate("public.customers.ssn", "having", "equality", "redact"),
		masked_predicate("public.customers.ssn", "order_by", "equality", "redact"),
		masked_predicate("public.customers.ssn", "filter", "pattern", "redact"),
		masked_predicate("public.customers.ssn", "join", "equality", "redact"),
		masked_predicate("public.customers.email", "where", "equality", "token"),
	] {
		s := object.union(guess_ssn, {"masked_columns_in_predicates": [p]})
		denied_by(decide(sql("ci-bot", "staging", s)), "mask_predicate_oracle")
	}
}

test_token_joins_ordering_and_grouping_stay_allowed if {
	every p in [
		masked_predicate("public.customers.email", "join", "equality", "token"),
		masked_predicate("public.customers.ssn", "order_by", "other", "redact"),
		masked_predicate("public.customers.ssn", "group_by", "other", "redact"),
	] {
		s := object.union(guess_ssn, {"masked_columns_in_predicates": [p]})
		masked_by(decide(sql("alice", "staging", s)), "developers_read_write_ddl")
	}
}

test_pii_readers_filter_on_anything if {
	clear_by(decide(sql("dora", "staging", guess_ssn)), "developers_read_write_ddl")
}

