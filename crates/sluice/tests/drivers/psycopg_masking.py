"""Reads a masked table through a sluice gateway with psycopg 3: text and binary results, a
server-side prepared statement, server-side (named) cursors, pipeline mode, COPY.

Run by tests/masking.rs with SLUICE_DSN (an identity whose decisions carry column and content
rules) and SLUICE_DSN_CONTENT (one with content rules only) pointing at the gateway. Prints
one line per result row, `<mode> <row as JSON>`, and one line per other outcome; the Rust
test checks the output for raw values and for the masked forms. Exits non-zero on anything
unexpected that the output would not show."""

import json
import os
import sys

import psycopg
from psycopg import errors

dsn = os.environ["SLUICE_DSN"]
content_dsn = os.environ["SLUICE_DSN_CONTENT"]

QUERY = (
    "SELECT id, name, email, ssn, card, phone, secret_note, notes, doc, emails, card_num "
    "FROM people WHERE id <= %s ORDER BY id"
)


def show(mode, rows):
    for row in rows:
        print(mode, json.dumps(list(row), sort_keys=True))


with psycopg.connect(dsn) as conn:
    with conn.cursor() as cur:
        cur.execute(QUERY, (2,))
        show("text", cur.fetchall())

    with conn.cursor(binary=True) as cur:
        cur.execute(QUERY, (2,))
        show("binary", cur.fetchall())

    # A named prepared statement: Parse once, then Bind/Execute without a Describe of ours.
    with conn.cursor() as cur:
        for _ in range(2):
            cur.execute(QUERY, (2,), prepare=True)
            show("prepared", cur.fetchall())
    with conn.cursor(binary=True) as cur:
        cur.execute(QUERY, (2,), prepare=True)
        show("prepared-binary", cur.fetchall())

    # Server-side cursors: DECLARE, then FETCH in batches.
    with conn.cursor(name="c") as named:
        named.execute(QUERY, (2,))
        show("named", named.fetchmany(1))
        show("named", named.fetchmany(5))
    with conn.cursor(name="cb", binary=True) as named:
        named.execute(QUERY, (2,))
        show("named-binary", named.fetchall())
    conn.commit()

    with conn.cursor() as cur:
        with conn.pipeline():
            cur.execute("SELECT ssn, card FROM people WHERE id = %s", (1,))
            piped = cur.fetchall()
        show("pipeline", piped)

        # Column rules cannot follow COPY: refused before it runs.
        try:
            with cur.copy("COPY (SELECT ssn FROM people) TO STDOUT") as copy:
                for row in copy.rows():
                    print("copy row", json.dumps(list(row)))
            print("copy not refused")
        except errors.InsufficientPrivilege as e:
            print("copy refused", "sluice.mask_copy" in str(e))
            conn.rollback()

        # Error fields are masked too.
        try:
            cur.execute(
                "INSERT INTO people (id, name, ssn) SELECT 99, 'dup', ssn FROM people WHERE id = %s",
                (1,),
            )
            print("duplicate not refused")
        except errors.UniqueViolation as e:
            print("unique violation", e.diag.message_detail)
            conn.rollback()

with psycopg.connect(content_dsn, autocommit=True) as conn:
    with conn.cursor() as cur:
        with cur.copy("COPY (SELECT id, email, ssn, card, notes FROM people ORDER BY id) TO STDOUT") as copy:
            show("copy", copy.rows())

print("psycopg masking done")
sys.exit(0)
