# MySQL and MariaDB statements (request.dialect == "mysql") meet the same rules with the same
# intent as PostgreSQL's: the facts are the same (sluice-sql's MySQL dialect), tables are
# `database.table`, and MySQL's own ways out (LOAD_FILE, UDFs, SET GLOBAL, dynamic SQL,
# INTO OUTFILE) are named like PostgreSQL's.
package sluice_test

import rego.v1

mysql(who, where, statement) := object.union(sql(who, where, statement), {
	"schema_version": 2,
	"request": {"kind": "sql", "dialect": "mysql"},
	"session": {"protocol": "mysql"},
})

postgresql(who, where, statement) := object.union(sql(who, where, statement), {
	"schema_version": 2,
	"request": {"kind": "sql", "dialect": "postgresql"},
})

# Statements whose facts read the same in both dialects but for the table's prefix.
twins := [
	{"text": "SELECT * FROM orders", "kind": "read", "command": "SELECT", "tables_read": ["shop.orders"]},
	{"text": "DELETE FROM orders", "kind": "write", "command": "DELETE", "tables_written": ["shop.orders"], "unbounded_write": true},
	{"text": "DELETE FROM orders WHERE id = $1", "kind": "write", "command": "DELETE", "tables_written": ["shop.orders"]},
	{"text": "UPDATE orders SET total = $1 WHERE id = $2", "kind": "write", "command": "UPDATE", "tables_written": ["shop.orders"]},
	{"text": "DROP TABLE orders", "kind": "ddl", "command": "DROP TABLE", "tables_written": ["shop.orders"]},
	{"text": "CALL refresh()", "kind": "procedural", "command": "CALL"},
	{"text": "BEGIN", "kind": "transaction", "command": "BEGIN"},
]

test_mysql_statements_are_decided_as_their_postgresql_twins if {
	every who in ["alice", "bob", "ci-bot", "carol", "nobody"] {
		every where in ["shop", "staging"] {
			every statement in twins {
				m := decide(mysql(who, where, statement))
				p := decide(postgresql(who, where, statement))
				m.allow == p.allow
				m.rule == p.rule
				object.get(m, "approval", null) == object.get(p, "approval", null)
			}
		}
	}
}

test_mysql_unbounded_writes_are_denied if {
	d := decide(mysql("alice", "staging", {
		"text": "DELETE FROM orders", "kind": "write", "command": "DELETE",
		"tables_written": ["shop.orders"], "unbounded_write": true,
	}))
	denied_by(d, "unbounded_write")
}

test_mysql_server_file_and_udf_functions_are_denied if {
	every f in ["load_file", "sys_exec", "sys_eval"] {
		d := decide(mysql("alice", "staging", {
			"text": sprintf("SELECT %s($1)", [f]), "functions": [f],
		}))
		denied_by(d, "dangerous_function")
	}
}

test_mysql_dynamic_sql_and_server_files_are_procedural_and_denied if {
	every statement in [
		{"text": "PREPARE s FROM @q", "kind": "procedural", "command": "PREPARE"},
		{"text": "EXECUTE s", "kind": "procedural", "command": "EXECUTE"},
		{"text": "SELECT * FROM orders INTO OUTFILE $1", "kind": "procedural", "command": "SELECT", "tables_read": ["shop.orders"]},
		{"text": "LOAD DATA INFILE $1 INTO TABLE orders", "kind": "procedural", "command": "LOAD DATA", "tables_written": ["shop.orders"]},
	] {
		d := decide(mysql("alice", "staging", statement))
		not d.allow
	}
}

test_mysql_global_settings_are_break_glass_only if {
	change := {
		"text": "SET GLOBAL max_connections = $1", "kind": "session_change", "command": "SET",
		"session_change": {"setting": "global.max_connections", "value": "1"},
	}
	denied_by(decide(mysql("alice", "staging", change)), "global_setting")
	not denied_by(decide(mysql("carol", "staging", change)), "global_setting")
}

# mysqldump ends with UNLOCK TABLES, which releases only the session's own locks: an analyst
# may dump what they may read.
test_mysql_analysts_may_unlock_their_own_tables if {
	d := decide(mysql("bob", "shop", {"text": "UNLOCK TABLES", "kind": "utility", "command": "UNLOCK"}))
	allowed_by(d, "analysts_read_only")
}
