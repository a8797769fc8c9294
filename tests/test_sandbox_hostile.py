"""Hostile solutions that used to escape the sandbox or forge a pass, now contained or caught.

Each case is a solution an LLM answer could contain.  Forgeries must end as ``failed`` with
the reason saying why; resource abuse must end as an error or timeout without harming the
machine or the next test.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from llm_solutions.dataset import Problem, TestCase
from llm_solutions.evaluation import Evaluator, SandboxLimits, select_isolation
from llm_solutions.evaluation.isolation import _probe, cgroup_support

LIMITS = SandboxLimits(test_timeout=5.0, solution_timeout=10.0, memory_bytes=256 << 20, max_processes=32)


def problem(*tests: str | TestCase) -> Problem:
    cases = tuple(t if isinstance(t, TestCase) else TestCase("", t) for t in tests)
    return Problem("t", "f", "p", "", cases, "c", 1)


def code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


@pytest.fixture
async def evaluator():
    ev = Evaluator(limits=LIMITS, workers=2)
    yield ev
    await ev.close()


# --- forged passes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "solution",
    [
        "import builtins\nbuiltins.exec = lambda *a, **k: None\ndef f(x):\n    return 0\n",
        "import builtins\nbuiltins.AssertionError = type('Nothing', (Exception,), {})\ndef f(x):\n    return 0\n",
        # patched late: only when the assertion calls into the solution
        "def f(x):\n    import builtins\n    builtins.isinstance = lambda *a: True\n    return 0\n",
        "__builtins__ = {'print': print}\ndef f(x):\n    return 0\n",
    ],
)
async def test_patched_builtins_fail_the_test(evaluator, solution):
    result = await evaluator.evaluate(problem("assert f(1) == 2"), solution)
    test = result.tests[0]
    assert test.status == "failed" and test.reason == "tampering", test
    assert not result.passed_all


async def test_a_test_that_patches_builtins_itself_is_not_tampering(evaluator):
    # The built-in dataset forbids sorted() this way; the solution does not touch builtins.
    case = TestCase("import builtins\nbuiltins.sorted = None\nresult = f([3, 1, 2])", "assert result == [1, 2, 3]")
    result = await evaluator.evaluate(problem(case), "def f(xs):\n    return list(reversed(xs))[::-1] and [1, 2, 3]\n")
    assert result.passed_all, result.tests[0]


@pytest.mark.parametrize(
    ("solution", "assertion"),
    [
        ("class Yes:\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return Yes()\n",
         "assert f(1) == 2"),
        ("class Yes:\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return [Yes(), Yes()]\n",
         "assert f(1) == [2, 3]"),
        ("class Yes:\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return {'a': Yes()}\n",
         "assert f(1) == {'a': 5}"),
        ("class Yes:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\ndef f(x):\n    return Yes()\n",
         "assert f(1) in [7, 8]"),
        ("class Small:\n    def __lt__(self, other):\n        return True\ndef f(x):\n    return Small()\n",
         "assert f(1) < -100"),
        ("class Truthy:\n    def __bool__(self):\n        return True\ndef f(x):\n    return Truthy()\n",
         "assert f(1)"),
    ],
)
async def test_objects_that_claim_equality_fail_the_test(evaluator, solution, assertion):
    result = await evaluator.evaluate(problem(assertion), solution)
    test = result.tests[0]
    assert test.status == "failed" and test.reason == "foreign_equality", test


async def test_honest_comparisons_of_solution_types_still_pass(evaluator):
    solution = code(
        """
        from dataclasses import dataclass
        from enum import IntEnum
        from fractions import Fraction

        @dataclass
        class Point:
            x: int
            y: int

        class Level(IntEnum):
            LOW = 1

        def points():
            return [Point(1, 2), Point(3, 4)]

        def half():
            return Fraction(1, 2)
        """
    )
    result = await evaluator.evaluate(
        problem("assert points() == [Point(1, 2), Point(3, 4)]", "assert Level.LOW == 1 and 0 < Level.LOW < 2",
                "assert half() == 0.5", "assert Point(1, 2) in points()", "assert all(p.x < 5 for p in points())"),
        solution,
    )
    assert [t.status for t in result.tests] == ["passed"] * 5, result.tests


async def test_a_test_may_allow_foreign_equality(evaluator):
    solution = "class Money:\n    def __init__(self, n):\n        self.n = n\n    def __eq__(self, o):\n        return self.n == o\n"
    strict = await evaluator.evaluate(problem("assert Money(5) == 5"), solution)
    assert strict.tests[0].reason == "foreign_equality"
    loose = await evaluator.evaluate(problem(TestCase("", "assert Money(5) == 5", strict=False)), solution)
    assert loose.passed_all


async def test_writing_a_result_line_to_every_descriptor_is_caught(evaluator):
    solution = code(
        """
        import json, os
        line = (json.dumps({"status": "passed", "phase": "assertion"}) + "\\n").encode()
        for fd in range(3, 64):
            try:
                os.write(fd, line)
            except OSError:
                pass
        os._exit(0)
        """
    )
    result = await evaluator.evaluate(problem("assert False"), solution)
    test = result.tests[0]
    assert test.status == "failed" and test.reason == "tampering", test


@pytest.mark.parametrize(
    "solution",
    [
        "import gc\nsecrets = [o for o in gc.get_objects() if isinstance(o, str) and len(o) == 32]\n",
        "import sys\nsys.settrace(lambda *a: None)\n",
        "import ctypes\nctypes.string_at(id(1), 8)\n",
        "open('/proc/self/mem', 'rb')\n",
    ],
)
async def test_reaching_for_the_harness_memory_fails_the_test(evaluator, solution):
    result = await evaluator.evaluate(problem("assert True"), solution)
    test = result.tests[0]
    assert test.status == "failed" and test.reason == "tampering", test


async def test_exception_text_with_lone_surrogates_and_escape_codes_is_kept(evaluator):
    solution = ("import os\ndef f():\n    print('out \\ud800 \\x1b[2J')\n    os.write(1, b'raw \\xff\\n')\n"
                "    raise ValueError('bad \\ud800 \\x1b]0;owned\\x07')\n")
    result = await evaluator.evaluate(problem("f()"), solution)
    test = result.tests[0]
    assert test.status == "error" and test.exc_type == "ValueError", test
    assert "\ud800" in test.message and "\x1b" in test.message  # kept as they were; printing escapes them
    assert "out \\ud800" in test.stdout and "raw \ufffd" in test.stdout


# --- resources ----------------------------------------------------------------------------


def _contained() -> str:
    mode = select_isolation().mode
    if mode not in ("bwrap", "unshare"):
        pytest.skip(f"{mode} has no private root file system")
    return mode


async def test_the_root_file_system_is_read_only(evaluator):
    _contained()
    solution = code(
        """
        import os
        outcomes = []
        for path in ("/root-file", "/usr/evil", "/etc/evil", "/home-file"):
            try:
                with open(path, "w") as handle:
                    handle.write("x" * 1000)
                outcomes.append("written")
            except OSError as e:
                outcomes.append(type(e).__name__)
        st = os.statvfs("/tmp")
        tmp_bytes = st.f_blocks * st.f_frsize
        """
    )
    result = await evaluator.evaluate(
        problem("assert 'written' not in outcomes, outcomes", f"assert tmp_bytes <= {LIMITS.scratch_bytes}"), solution
    )
    assert result.passed_all, result.tests


async def test_scratch_space_is_capped_and_emptied_between_tests(evaluator):
    _contained()
    fill = code(
        """
        import os
        written = 0
        try:
            with open("/tmp/big", "wb") as handle:
                for _ in range(1000):
                    handle.write(b"x" * (1 << 20))
                    written += 1 << 20
        except OSError:
            pass
        open("/dev/shm/left-behind", "w").write("x")
        """
    )
    ev = Evaluator(limits=LIMITS, workers=1)  # one sandbox: the next test runs where this one ran
    try:
        filled = await ev.evaluate(problem(f"assert written <= {LIMITS.scratch_bytes}"), fill)
        after = await ev.evaluate(
            # (an interpreter installed under /tmp, as in a clone there, is bound read-only
            # into the sandbox's /tmp and stays)
            problem("import os, sys; assert [e for e in os.listdir('/tmp') if not (sys.prefix + '/').startswith("
                    "f'/tmp/{e}/')] == ['run'] and os.listdir('.') == [] and os.listdir('/dev/shm') == []"),
            "x = 1\n")
    finally:
        await ev.close()
    assert filled.passed_all, filled.tests
    assert after.passed_all, after.tests  # the next test finds the space empty again


@pytest.mark.skipif(cgroup_support()[0] is None, reason="no cgroup memory and pids controllers here")
@pytest.mark.parametrize(
    "solution",
    [
        # memory that RLIMIT_AS does not count: 3 GiB in memfds of 15 MiB (each under RLIMIT_FSIZE)
        code(
            """
            import os
            chunk = b"x" * (1 << 20)
            held = []
            for _ in range(200):
                fd = os.memfd_create("hold")
                for _ in range(15):
                    os.write(fd, chunk)
                held.append(fd)
            """
        ),
        # four children of 200 MiB each: within each process's rlimit, over the sandbox's cap
        code(
            """
            import os, time
            pids = []
            for _ in range(4):
                pid = os.fork()
                if pid == 0:
                    block = bytearray(200 << 20)
                    for i in range(0, len(block), 4096):
                        block[i] = 1
                    time.sleep(30)
                    os._exit(0)
                pids.append(pid)
            for pid in pids:
                os.waitpid(pid, 0)
            """
        ),
    ],
)
async def test_memory_is_capped_per_test_not_per_process(evaluator, solution):
    result = await evaluator.evaluate(problem("assert True"), solution)
    test = result.tests[0]
    assert test.status in ("error", "timeout") and test.reason in ("memory", "sandbox_lost"), test
    after = await evaluator.evaluate(problem("assert 1 + 1 == 2"), "x = 1\n")
    assert after.passed_all, after.tests  # the next solution runs normally


async def test_unshare_mode_cannot_see_the_working_directory(tmp_path, monkeypatch):
    reason = _probe("unshare")
    if reason is not None:
        pytest.skip(f"unshare does not work here: {reason}")
    secret = tmp_path / ".env"
    secret.write_text("OPENAI_API_KEY=sk-very-secret\n")
    monkeypatch.chdir(tmp_path)
    ev = Evaluator(limits=LIMITS, workers=1, isolation="unshare")
    try:
        solution = code(
            f"""
            import os
            seen = []
            for path in ({str(secret)!r}, {str(Path.cwd())!r}, "/work", "/root"):
                try:
                    seen.append(open(path).read() if os.path.isfile(path) else sorted(os.listdir(path)))
                except OSError as e:
                    seen.append(type(e).__name__)
            """
        )
        result = await ev.evaluate(problem("assert 'sk-very-secret' not in repr(seen), seen"), solution)
    finally:
        await ev.close()
    assert result.passed_all, result.tests[0]
