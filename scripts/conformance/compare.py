"""Compares the runs of scripts/conformance.sh: for each suite, the tests whose outcome through
sluice differs from their outcome against the server directly, split into the differences
scripts/conformance/expected-differences.txt lists and the rest.

    python compare.py RESULTS_DIR EXPECTED_FILE SUITE...
    python compare.py --differing RESULTS_DIR SUITE     (test ids that differ, one a line)

Reads, under RESULTS_DIR/SUITE/:
  pg_regress: direct/ and sluice/, each pg_regress's stdout (pg_regress.out) and its
              results/*.out, with the schedule's test names in tests.txt;
  asyncpg:    direct.tsv and sluice.tsv (scripts/conformance/asyncpg_runner.py), and, when
              differing tests were run again, rerun-direct.tsv and rerun-sluice.tsv.
Writes RESULTS_DIR/pg_regress/direct-vs-sluice/TEST.diff for each pg_regress test whose output
differs between the two runs, and prints the summary. Exit status 1 when a difference is not
listed as expected.
"""

import fnmatch
import os
import re
import subprocess
import sys

PG_LINE = re.compile(r"^(?:test\s+|\s+)(\S+)\s+\.\.\.\s+(ok|FAILED|failed \(ignored\))")


def read_expected(path):
    entries = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3:
                print(f"{path}:{number}: want SUITE TEST REASON, got: {line}", file=sys.stderr)
                sys.exit(2)
            entries.append({"suite": parts[0], "test": parts[1], "reason": parts[2],
                            "line": number, "used": False})
    return entries


def pg_regress_outcomes(run_dir, tests):
    outcomes = {t: ("missing", "not run (pg_regress stopped or timed out before it)")
                for t in tests}
    path = os.path.join(run_dir, "pg_regress.out")
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            for line in f:
                m = PG_LINE.match(line)
                if m:
                    name, word = m.groups()
                    outcomes[name] = ("pass", "") if word == "ok" else ("fail", word)
    return outcomes


def asyncpg_outcomes(path):
    outcomes = {}
    if not os.path.exists(path):
        return outcomes
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2:
                continue
            test, outcome = parts[0], parts[1]
            detail = parts[3] if len(parts) > 3 else ""
            status = {"pass": "pass", "xfail": "pass", "skip": "skip"}.get(outcome, "fail")
            outcomes[test] = (status, f"{outcome}: {detail}" if detail else outcome)
    return outcomes


# sluice answers refusals itself, with the server's SQLSTATE, message and position, and says so
# with this prefix (docs/policy.md): the one difference in a line that is intended, taken out
# before outputs are compared. Everything else must match byte for byte.
SLUICE_PREFIX = re.compile(rb"^((?:psql:[^\n]*?)?(?:ERROR|FATAL|WARNING|NOTICE):  )sluice: ", re.M)


def read_normalized(path):
    with open(path, "rb") as f:
        return SLUICE_PREFIX.sub(rb"\1", f.read())


def same_output(a, b):
    try:
        with open(a, "rb") as fa:
            return fa.read() == read_normalized(b)
    except FileNotFoundError:
        return os.path.exists(a) == os.path.exists(b)


def describe(direct, sluice):
    (d, _), (s, _) = direct, sluice
    if d == s == "fail":
        return "fails both ways, with different output"
    words = {"pass": "passes", "fail": "fails", "skip": "is skipped", "missing": "does not run"}
    return f"{words[d]} directly, {words[s]} through sluice"


NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\d+")


def signature(results, suite, test, direct, sluice):
    """What tells the difference apart, numbers blurred so that ports and pids group: the
    first line of the direct-vs-sluice diff on each side (pg_regress), or each side's outcome
    and first line of its failure (asyncpg)."""
    if suite == "pg_regress":
        path = os.path.join(results, suite, "direct-vs-sluice", test + ".diff")
        minus = plus = ""
        if "missing" in (direct[0], sluice[0]):
            minus, plus = direct[1], sluice[1]
        elif os.path.exists(path):
            # The first block of changed lines: what it removed and what it added first.
            with open(path, errors="replace", newline="\n") as f:
                in_block = in_hunk = False
                for line in f:
                    # Past the header only "@@" is markup: "--- x" in a hunk is a removed
                    # SQL comment.
                    if line.startswith("@@"):
                        in_hunk = True
                        continue
                    if not in_hunk:
                        continue
                    if line.startswith(("-", "+")):
                        in_block = True
                        text = line[1:].strip() or "(an empty line)"
                        if line[0] == "-" and not minus:
                            minus = text
                        elif line[0] == "+" and not plus:
                            plus = text
                    elif in_block:
                        break
        elif direct[0] != "pass" or sluice[0] != "pass":
            minus, plus = direct[1], sluice[1]
        return (NUMBERS.sub("N", minus[:300]), NUMBERS.sub("N", plus[:300]))
    return (NUMBERS.sub("N", direct[1][:300]) if direct[0] != "pass" else "",
            NUMBERS.sub("N", sluice[1][:300]) if sluice[0] != "pass" else "")


def differences(results, suite):
    """(test, direct outcome, sluice outcome, note) for each test that differs."""
    found = []
    if suite == "pg_regress":
        base = os.path.join(results, suite)
        with open(os.path.join(base, "tests.txt")) as f:
            tests = [t for t in f.read().split() if t]
        direct = pg_regress_outcomes(os.path.join(base, "direct"), tests)
        sluice = pg_regress_outcomes(os.path.join(base, "sluice"), tests)
        cmp_dir = os.path.join(base, "direct-vs-sluice")
        os.makedirs(cmp_dir, exist_ok=True)
        for test in tests:
            a = os.path.join(base, "direct", "results", test + ".out")
            b = os.path.join(base, "sluice", "results", test + ".out")
            identical = same_output(a, b)
            if not identical and os.path.exists(a) and os.path.exists(b):
                normalized = os.path.join(cmp_dir, test + ".sluice.out")
                with open(normalized, "wb") as out:
                    out.write(read_normalized(b))
                with open(os.path.join(cmp_dir, test + ".diff"), "w") as out:
                    subprocess.run(["diff", "-u", "--label", f"direct/results/{test}.out",
                                    "--label", f"sluice/results/{test}.out", a, normalized],
                                   stdout=out)
                os.remove(normalized)
            d, s = direct[test], sluice[test]
            # The same output (but for the prefix) is the same outcome, whatever pg_regress
            # concluded from comparing the prefixed output with its expected file.
            if not identical and (d[0] != s[0] or d[0] == s[0] == "fail"):
                found.append((test, d, s, ""))
    else:
        base = os.path.join(results, suite)
        direct = asyncpg_outcomes(os.path.join(base, "direct.tsv"))
        sluice = asyncpg_outcomes(os.path.join(base, "sluice.tsv"))
        rerun_d = asyncpg_outcomes(os.path.join(base, "rerun-direct.tsv"))
        rerun_s = asyncpg_outcomes(os.path.join(base, "rerun-sluice.tsv"))
        missing = ("missing", "not run (the run stopped or timed out before it)")
        for test in sorted(set(direct) | set(sluice)):
            d, s = direct.get(test, missing), sluice.get(test, missing)
            if d[0] == s[0]:
                continue
            note = ""
            if test in rerun_d and test in rerun_s:
                rd, rs = rerun_d[test], rerun_s[test]
                if rd[0] == rs[0]:
                    note = f"did not reproduce: run again, {rd[0]} both ways"
                else:
                    note = f"reproduced when run again ({rd[0]} directly, {rs[0]} through sluice)"
            found.append((test, d, s, note))
    return found


BLUR = [(re.compile(r'"[^"]*"'), '"…"'), (re.compile(r"'[^']*'"), "'…'"), (NUMBERS, "N"),
        (re.compile(r"^(LINE N:).*"), r"\1 …"), (re.compile(r"^\s*\^\s*$"), "(the caret under LINE)")]


def frequent_lines(results, top=12):
    """The changed lines of all direct-vs-sluice diffs, blurred and counted: what sluice adds
    and what it takes away, across the suite, most frequent first."""
    counted = {"+": {}, "-": {}}
    cmp_dir = os.path.join(results, "pg_regress", "direct-vs-sluice")
    for name in sorted(os.listdir(cmp_dir)):
        with open(os.path.join(cmp_dir, name), errors="replace", newline="\n") as f:
            in_hunk = False
            for line in f:
                if line.startswith("@@"):
                    in_hunk = True
                elif in_hunk and line[:1] in counted:
                    text = line[1:].rstrip("\n")[:200]
                    for pattern, replacement in BLUR:
                        text = pattern.sub(replacement, text)
                    counted[line[0]][text] = counted[line[0]].get(text, 0) + 1
    for sign, title in (("+", "only through sluice"), ("-", "only directly")):
        lines = sorted(counted[sign].items(), key=lambda kv: -kv[1])
        print(f"  output lines {title}, most frequent first ({len(lines)} distinct):")
        for text, n in lines[:top]:
            print(f"    {n:5} {text}")


def counts(results, suite):
    base = os.path.join(results, suite)
    out = {}
    if suite == "pg_regress":
        with open(os.path.join(base, "tests.txt")) as f:
            tests = [t for t in f.read().split() if t]
        for mode in ("direct", "sluice"):
            o = pg_regress_outcomes(os.path.join(base, mode), tests)
            out[mode] = (sum(1 for v in o.values() if v[0] == "pass"), len(tests))
    else:
        for mode in ("direct", "sluice"):
            o = asyncpg_outcomes(os.path.join(base, mode + ".tsv"))
            passed = sum(1 for v in o.values() if v[0] == "pass")
            skipped = sum(1 for v in o.values() if v[0] == "skip")
            out[mode] = (passed, len(o), skipped)
    return out


def main():
    args = sys.argv[1:]
    if args and args[0] == "--differing":
        results, suite = args[1], args[2]
        for test, *_ in differences(results, suite):
            print(test)
        return 0
    results, expected_path, *suites = args
    expected = read_expected(expected_path)
    unexpected_total = 0
    for suite in suites:
        c = counts(results, suite)
        print(f"== {suite}")
        for mode in ("direct", "sluice"):
            if suite == "pg_regress":
                passed, total = c[mode]
                print(f"  {mode:>6}: {passed} of {total} tests passed")
            else:
                passed, total, skipped = c[mode]
                print(f"  {mode:>6}: {passed} of {total} tests passed, {skipped} skipped")
        found = differences(results, suite)
        listed, not_listed, flaky = [], [], []
        for test, d, s, note in found:
            entry = next((e for e in expected if e["suite"] == suite
                          and fnmatch.fnmatchcase(test, e["test"])), None)
            if entry:
                entry["used"] = True
                listed.append((test, d, s, note, entry["reason"]))
            elif note.startswith("did not reproduce"):
                flaky.append((test, d, s, note, ""))
            else:
                not_listed.append((test, d, s, note, ""))

        def show(title, rows):
            """Rows grouped by what differs: the kind of difference and its first line."""
            print(f"  {title}: {len(rows)}")
            groups = {}
            for row in rows:
                test, d, s, note, reason = row
                minus, plus = signature(results, suite, test, d, s)
                # Tests group by what sluice did; the direct side is shown when alone.
                key = (describe(d, s), plus if plus else "-" + minus, note, reason)
                groups.setdefault(key, []).append((test, minus, plus))
            for (kind, _, note, reason), members in groups.items():
                tests = [m[0] for m in members]
                minus, plus = members[0][1], members[0][2]
                print(f"    {len(tests)} test(s) {kind}: {' '.join(tests)}")
                if minus and (len(tests) == 1 or not plus):
                    print(f"      directly:       {minus}")
                if plus:
                    print(f"      through sluice: {plus}")
                if note:
                    print(f"      {note}")
                if reason:
                    print(f"      expected: {reason}")
                if suite == "pg_regress" and len(tests) == 1:
                    print(f"      diff: {os.path.join(results, suite, 'direct-vs-sluice', tests[0] + '.diff')}")

        if suite == "pg_regress" and found:
            frequent_lines(results)
        show("unexpected differences", not_listed)
        show("expected differences (expected-differences.txt)", listed)
        if flaky:
            show("differences that did not reproduce when run again (not counted)", flaky)
        unexpected_total += len(not_listed)
    stale = [e for e in expected if e["suite"] in suites and not e["used"]]
    if stale:
        print(f"== listed in {expected_path} but no longer different: {len(stale)}")
        for e in stale:
            print(f"    line {e['line']}: {e['suite']} {e['test']}  ({e['reason']})")
    print(f"== {unexpected_total} unexpected difference(s)")
    return 1 if unexpected_total else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # a broken harness is not a difference: exit 2, as the script does
        import traceback
        traceback.print_exc()
        sys.exit(2)
