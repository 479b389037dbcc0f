"""PyMySQL and mysql-connector-python through sluice's MySQL listener (tests/mysql_clients.rs).

SLUICE_MYSQL_DEVELOPER is a developer who reads personal data in clear, SLUICE_MYSQL_ANALYST an
analyst whose results are masked; both mysql:// URLs through the gateway to the `shop` target.
Prints "mysql drivers ok" when every check passed.
"""

import os
from urllib.parse import unquote, urlparse

import mysql.connector
import pymysql

RAW = ["Ada Lovelace", "ada@example.com", "123-45-6789", "4111111111111111",
       "234-56-7890", "345-67-8901", "alan@turing.org", "grace@navy.mil"]


def params(url):
    u = urlparse(url)
    return {
        "host": u.hostname,
        "port": u.port,
        "user": unquote(u.username),
        "password": unquote(u.password),
        "database": u.path.lstrip("/"),
    }


def text(value):
    return value.decode() if isinstance(value, (bytes, bytearray)) else value


developer = params(os.environ["SLUICE_MYSQL_DEVELOPER"])
analyst = params(os.environ["SLUICE_MYSQL_ANALYST"])

# PyMySQL: the text protocol, no TLS, so caching_sha2_password's full authentication goes
# under RSA (the `cryptography` package).
conn = pymysql.connect(**developer)
with conn.cursor() as cur:
    cur.execute("SELECT name, ssn FROM customers WHERE id = %s", (1,))
    assert cur.fetchone() == ("Ada Lovelace", "123-45-6789")
    try:
        cur.execute("DELETE FROM orders")
        raise AssertionError("DELETE without WHERE was not denied")
    except pymysql.err.MySQLError as e:
        assert e.args[0] == 1142, e
        assert e.args[1].startswith("sluice: denied by policy rule unbounded_write"), e
    # The connection goes on after the denial.
    cur.execute("SELECT count(*) FROM orders")
    assert cur.fetchone() == (3,)
conn.close()

# mysql-connector-python: server-side prepared statements (COM_STMT_PREPARE / EXECUTE). The
# collation is named because sluice greets as MySQL 8.0, for which the driver's default is
# utf8mb4_0900_ai_ci, which MariaDB does not have (mysql_clients.rs tests the default apart).
MARIADB_COLLATION = {"charset": "utf8mb4", "collation": "utf8mb4_general_ci"}
cn = mysql.connector.connect(**developer, **MARIADB_COLLATION)
cur = cn.cursor(prepared=True)
for id_, name in [(1, "Ada Lovelace"), (2, "Alan Turing"), (3, "Grace Hopper")]:
    cur.execute("SELECT name FROM customers WHERE id = ?", (id_,))
    rows = cur.fetchall()
    assert [tuple(text(v) for v in r) for r in rows] == [(name,)], rows
cur.execute("SELECT ? IS NULL", (None,))
assert cur.fetchall() == [(1,)]
cur.close()
cn.close()

# The analyst: masked through both drivers, text and binary rows.
conn = pymysql.connect(**analyst)
with conn.cursor() as cur:
    cur.execute("SELECT id, name, email, ssn, card_number, age FROM customers ORDER BY id")
    rows = cur.fetchall()
conn.close()
assert [(r[0], r[5]) for r in rows] == [(1, 36), (2, 41), (3, 85)], rows
for raw in RAW:
    assert raw not in repr(rows), (raw, rows)

cn = mysql.connector.connect(**analyst, **MARIADB_COLLATION)
cur = cn.cursor(prepared=True)
cur.execute("SELECT id, email, ssn, card_number FROM customers WHERE id >= ? ORDER BY id", (1,))
rows = [tuple(text(v) for v in r) for r in cur.fetchall()]
cur.close()
cn.close()
assert [r[0] for r in rows] == [1, 2, 3], rows
for raw in RAW:
    assert raw not in repr(rows), (raw, rows)

print("mysql drivers ok")
