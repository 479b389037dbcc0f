"""Runs each statement of SLUICE_STATEMENTS (a JSON list) through psycopg against
SLUICE_DSN, with binary results and with text results, as prepared (server-side) statements,
and prints one line per statement and format: the rows as repr(), or the error's SQLSTATE and
message. The Rust test checks every line for raw values."""

import json
import os

import psycopg

statements = json.loads(os.environ["SLUICE_STATEMENTS"])
with psycopg.connect(os.environ["SLUICE_DSN"], autocommit=True) as conn:
    for binary in (True, False):
        for sql in statements:
            label = "binary" if binary else "text"
            try:
                with conn.cursor(binary=binary) as cur:
                    cur.execute(sql, prepare=True)
                    rows = cur.fetchall() if cur.description else []
                    print(f"{label} {sql!r} -> {rows!r}")
            except psycopg.Error as e:
                print(f"{label} {sql!r} -> ERROR {e.sqlstate} {e}".replace("\n", " "))
