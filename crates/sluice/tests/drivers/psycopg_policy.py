"""Drives a sluice gateway that enforces the example policies with psycopg 3: a denied
statement raises InsufficientPrivilege (42501) with the rule in its message, a statement the
parser rejects raises SyntaxError (42601), and the connection goes on, in autocommit, inside
a transaction, with prepared statements and in pipeline mode.

Run by tests/policy.rs with SLUICE_DSN pointing at the gateway; exits non-zero on any
mismatch."""

import os

import psycopg
from psycopg import errors

dsn = os.environ["SLUICE_DSN"]


def denied(cur, sql, params=None):
    try:
        cur.execute(sql, params)
    except errors.InsufficientPrivilege as e:
        assert "denied by policy rule" in str(e), str(e)
        return
    raise AssertionError(f"not denied: {sql}")


with psycopg.connect(dsn, autocommit=True, prepare_threshold=1) as conn:
    with conn.cursor() as cur:
        denied(cur, "DELETE FROM items")
        denied(cur, "UPDATE items SET name = %s", ("x",))
        denied(cur, "SELECT pg_read_file(%s)", ("/etc/passwd",))
        try:
            cur.execute("SELEC 1")
            raise AssertionError("a syntax error went through")
        except errors.SyntaxError as e:
            assert "sluice: syntax error" in str(e), str(e)
            assert e.diag.statement_position == "1", e.diag.statement_position
        # Allowed statements still run, prepared ones included (prepare_threshold=1).
        for i in range(1, 4):
            cur.execute("SELECT count(*) FROM items WHERE id <= %s", (i,))
            assert cur.fetchone() == (i,), f"round {i}"

# Inside a transaction a denial aborts it, as any error would; after rollback it goes on.
with psycopg.connect(dsn) as conn:
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        denied(cur, "DELETE FROM items")
        conn.rollback()
        cur.execute("SELECT count(*) FROM items")
        assert cur.fetchone() == (100,)

# Pipeline mode: the denied statement fails, the ones after the next sync run.
with psycopg.connect(dsn, autocommit=True) as conn:
    with conn.cursor() as cur:
        try:
            with conn.pipeline():
                cur.execute("SELECT 1")
                cur.execute("DELETE FROM items")
        except errors.InsufficientPrivilege:
            pass
        else:
            raise AssertionError("the pipelined DELETE was not denied")
        with conn.pipeline():
            cur.execute("SELECT count(*) FROM items")
        assert cur.fetchone() == (100,)

print("psycopg policy ok")
