"""Runs asyncpg's own test suite and writes one line per test, for scripts/conformance.sh.

    python asyncpg_runner.py TESTS_PARENT_DIR OUTPUT_PREFIX [TEST_ID...]

TESTS_PARENT_DIR holds the `tests` package of asyncpg's sdist (and not asyncpg's source, so
the installed asyncpg is the one tested). The connection comes from the environment: with
PGHOST set, asyncpg's test base uses the running server PGHOST/PGPORT/PGUSER/PGPASSWORD/
PGDATABASE name instead of starting a cluster of its own.

Writes OUTPUT_PREFIX.tsv, one line per test as it finishes (so a run cut short by a timeout
still says what ran): test id, outcome (pass, fail, error, skip, xfail, xpass, timeout),
seconds, the exception (its first line) or the skip reason. OUTPUT_PREFIX.tracebacks gets each
failure's traceback. Each test gets CONFORMANCE_TEST_TIMEOUT seconds (default 120), after which it is
interrupted and counted as `timeout`. With TEST_IDs, only those tests run.
"""

import io
import os
import signal
import sys
import time
import traceback
import unittest


class TestTimeout(BaseException):
    """Raised in the main thread by SIGALRM; BaseException so tests' `except Exception` keep out."""


def _on_alarm(signum, frame):
    raise TestTimeout(f"conformance: test still running after {PER_TEST}s")


PER_TEST = int(os.environ.get("CONFORMANCE_TEST_TIMEOUT", "120"))


def one_line(text):
    """The first line of `text`, for the one-line-per-test file."""
    for line in str(text).strip().splitlines():
        line = line.strip()
        if line:
            return line.replace("\t", " ")[:400]
    return ""


class RecordingResult(unittest.TextTestResult):
    def __init__(self, tsv, log, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tsv = tsv
        self._log = log
        self._started = {}
        self._subtest_failed = {}

    def _write(self, test, outcome, detail=""):
        test_id = test.id()
        took = time.monotonic() - self._started.pop(test_id, time.monotonic())
        self._tsv.write(f"{test_id}\t{outcome}\t{took:.2f}\t{one_line(detail)}\n")
        self._tsv.flush()

    def _traceback(self, test, err):
        """Logs the traceback; returns the exception itself, `Type: message`."""
        text = self._exc_info_to_string(err, test)
        self._log.write(f"===== {test.id()}\n{text}\n")
        self._log.flush()
        return "".join(traceback.format_exception_only(err[0], err[1])).strip()

    def startTest(self, test):
        self._started[test.id()] = time.monotonic()
        signal.alarm(PER_TEST)
        super().startTest(test)

    def stopTest(self, test):
        signal.alarm(0)
        failed = self._subtest_failed.pop(test.id(), None)
        if failed is not None and test.id() in self._started:
            self._write(test, "fail", failed)
        super().stopTest(test)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._write(test, "pass")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._write(test, "fail", self._traceback(test, err))

    def addError(self, test, err):
        super().addError(test, err)
        outcome = "timeout" if err[0] is TestTimeout else "error"
        self._write(test, outcome, self._traceback(test, err))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._write(test, "skip", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._write(test, "xfail")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._write(test, "xpass")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            # The test as a whole is reported failed once, at its end; each failing sub-test's
            # traceback goes to the log.
            text = self._traceback(subtest, err)
            self._subtest_failed.setdefault(test.id(), text)


def flatten(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from flatten(item)
        else:
            yield item


def main():
    parent, prefix, *only = sys.argv[1:]
    os.chdir(parent)
    sys.path.insert(0, parent)
    signal.signal(signal.SIGALRM, _on_alarm)
    loader = unittest.TestLoader()
    if only:
        suite = unittest.TestSuite()
        for test_id in only:
            try:
                suite.addTests(loader.loadTestsFromName(test_id))
            except Exception as e:  # a test id from another asyncpg version, say
                print(f"cannot load {test_id}: {e}", file=sys.stderr)
    else:
        suite = loader.discover(os.path.join(parent, "tests"), pattern="test_*.py",
                                top_level_dir=parent)
    with open(prefix + ".tsv", "w") as tsv, open(prefix + ".tracebacks", "w") as log:
        runner = unittest.TextTestRunner(
            stream=sys.stdout, verbosity=2,
            resultclass=lambda *a, **k: RecordingResult(tsv, log, *a, **k))
        result = runner.run(suite)
    # Errors in setUpClass/tearDownClass/module fixtures are reported against a holder whose id
    # names the class; the addError above already wrote them.
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
