"""Drives a sluice gateway with psycopg 3 (libpq 18 underneath): parameters bound server-side,
automatic prepared statements, pipeline mode, COPY, a server-side cursor, errors.

Run by tests/python_driver.rs with SLUICE_DSN pointing at the gateway; exits non-zero on any
mismatch."""

import os
import sys

import psycopg

dsn = os.environ["SLUICE_DSN"]

with psycopg.connect(dsn, prepare_threshold=2) as conn:
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM items WHERE id = %s", (7,))
        assert cur.fetchone() == ("item 7",), "bound parameter"

        # After prepare_threshold executions psycopg switches to a named prepared statement.
        for i in range(1, 6):
            cur.execute("SELECT count(*) FROM items WHERE id <= %s", (i,))
            assert cur.fetchone() == (i,), f"prepared round {i}"

        cur.execute("CREATE TEMP TABLE py (id int, note text)")
        cur.executemany("INSERT INTO py VALUES (%s, %s)", [(1, "a"), (2, "b"), (3, "c")])
        conn.commit()

        # libpq pipeline mode: several statements in flight, results in order.
        with conn.pipeline():
            cur.execute("INSERT INTO py VALUES (%s, %s)", (4, "d"))
            cur.execute("SELECT count(*) FROM py")
            in_pipeline = cur.fetchone()
        assert in_pipeline == (4,), f"pipeline: {in_pipeline}"

        with cur.copy("COPY py (id, note) FROM STDIN") as copy:
            copy.write_row((5, "e"))
            copy.write_row((6, "f"))
        rows = []
        with cur.copy("COPY (SELECT id FROM py ORDER BY id) TO STDOUT") as copy:
            for row in copy.rows():
                rows.append(int(row[0]))
        assert rows == [1, 2, 3, 4, 5, 6], f"copy: {rows}"

        try:
            cur.execute("SELECT 1 / %s", (0,))
            raise AssertionError("division by zero was not reported")
        except psycopg.errors.DivisionByZero:
            conn.rollback()

    conn.commit()
    with conn.cursor(name="server_side") as named:
        named.execute("SELECT id FROM items ORDER BY id")
        first = named.fetchmany(3)
        assert [r[0] for r in first] == [1, 2, 3], f"server-side cursor: {first}"
    conn.commit()

print("psycopg ok")
sys.exit(0)
