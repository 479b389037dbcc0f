#!/usr/bin/env python3
"""Writes the seed corpora for the fuzz targets: small, valid PostgreSQL v3 messages.

Run from anywhere: python3 fuzz/seeds/gen_seeds.py
Client seeds start with the target's mode byte: 0 = startup packets first, 1 = frames only.
"""
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent


def msg(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack(">I", len(body) + 4) + body


def packet(body: bytes) -> bytes:
    return struct.pack(">I", len(body) + 4) + body


def cstr(s: str) -> bytes:
    return s.encode() + b"\0"


STARTUP = packet(struct.pack(">I", 3 << 16) + cstr("user") + cstr("alice")
                 + cstr("database") + cstr("app") + b"\0")
STARTUP_3_2 = packet(struct.pack(">I", (3 << 16) | 2) + cstr("user") + cstr("bob") + b"\0")
SSL_REQUEST = packet(struct.pack(">I", (1234 << 16) | 5679))
GSSENC_REQUEST = packet(struct.pack(">I", (1234 << 16) | 5680))
CANCEL = packet(struct.pack(">Ii", (1234 << 16) | 5678, 4242) + b"\x07" * 32)

QUERY = msg(b"Q", cstr("select 1"))
PARSE = msg(b"P", cstr("s1") + cstr("select $1, $2") + struct.pack(">hii", 2, 23, 25))
# Bind: portal, statement, 2 format codes (text, binary), 3 values (text, binary, NULL),
# 1 result format code.
BIND = msg(b"B", cstr("") + cstr("s1") + struct.pack(">hhh", 2, 0, 1)
           + struct.pack(">h", 3)
           + struct.pack(">i", 2) + b"42"
           + struct.pack(">i", 1) + b"\x07"
           + struct.pack(">i", -1)
           + struct.pack(">hh", 1, 0))
DESCRIBE = msg(b"D", b"P" + cstr(""))
EXECUTE = msg(b"E", cstr("") + struct.pack(">i", 0))
SYNC = msg(b"S", b"")
CLOSE = msg(b"C", b"S" + cstr("s1"))
TERMINATE = msg(b"X", b"")
SASL_INITIAL = msg(b"p", cstr("SCRAM-SHA-256") + struct.pack(">i", 32)
                   + b"n,,n=,r=rOprNGfwEbeRWgbNEkqO%hvY")
PASSWORD = msg(b"p", cstr("hunter2"))
COPY_FAIL = msg(b"f", cstr("aborted"))

CLIENT = {
    "startup_query": b"\0" + STARTUP + QUERY + TERMINATE,
    "sslrequest_startup": b"\0" + SSL_REQUEST + STARTUP_3_2 + SYNC,
    "gssenc_ssl_startup": b"\0" + GSSENC_REQUEST + SSL_REQUEST + STARTUP + PASSWORD,
    "cancel": b"\0" + CANCEL,
    "query": b"\1" + QUERY,
    "parse": b"\1" + PARSE,
    "bind": b"\1" + BIND,
    "execute": b"\1" + EXECUTE,
    "sync": b"\1" + SYNC,
    "extended": b"\1" + PARSE + BIND + DESCRIBE + EXECUTE + SYNC + CLOSE + SYNC,
    "sasl_initial": b"\1" + SASL_INITIAL,
    "copy_fail": b"\1" + COPY_FAIL,
}

SERVER = {
    "auth_ok_params_key_ready": msg(b"R", struct.pack(">i", 0))
    + msg(b"S", cstr("TimeZone") + cstr("UTC"))
    + msg(b"K", struct.pack(">i", 7) + b"abcd")
    + msg(b"Z", b"I"),
    "auth_sasl": msg(b"R", struct.pack(">i", 10) + cstr("SCRAM-SHA-256-PLUS")
                     + cstr("SCRAM-SHA-256") + b"\0"),
    "auth_md5": msg(b"R", struct.pack(">i", 5) + b"salt"),
    "command_complete": msg(b"C", cstr("INSERT 0 12")) + msg(b"Z", b"I"),
    "error": msg(b"E", cstr("SFEHLER") + cstr("VERROR") + cstr("C42P01")
                 + cstr('Mrelation "x" does not exist') + b"\0"),
}


def write(name: str, seeds: dict) -> None:
    out = HERE / name
    out.mkdir(exist_ok=True)
    for file, data in seeds.items():
        (out / file).write_bytes(data)


if __name__ == "__main__":
    write("client_messages", CLIENT)
    write("server_messages", SERVER)
