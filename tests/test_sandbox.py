"""The sandbox: hostile solutions are contained and recorded, good and bad ones are judged right.

Limits are small (1 s per test, 256 MiB) to keep the file fast.  The hostile tests run in
the strongest mode this machine offers (``.ci/install-sandbox`` installs bubblewrap); the
ones that only a real sandbox can pass are skipped in the ``rlimits`` last resort, which
promises no containment of files, processes or the environment.

With ``LLM_SOLUTIONS_REQUIRE_SANDBOX=1`` (set by ``.ci/run``, which installs bubblewrap)
those skips are failures instead, and the selected mode must be ``bwrap``: a broken sandbox
in CI must not pass as a few skipped tests.
"""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from pathlib import Path
from typing import NoReturn

import pytest

from llm_solutions.dataset import Problem, TestCase
from llm_solutions.evaluation import Evaluator, SandboxLimits, describe_isolation, select_isolation
from llm_solutions.evaluation.isolation import MODES, SandboxUnavailableError, _probe

LIMITS = SandboxLimits(test_timeout=1.0, solution_timeout=3.0, memory_bytes=256 << 20, max_processes=32)
FAKE_KEY = "sk-test-FAKE-0123456789abcdef"


def _sandbox_required() -> bool:
    return os.environ.get("LLM_SOLUTIONS_REQUIRE_SANDBOX") == "1"


def _skip_unless_sandbox_required(reason: str) -> NoReturn:
    """Skip, or fail where the sandbox must work (CI installs bubblewrap)."""
    if _sandbox_required():
        pytest.fail(f"{reason} (LLM_SOLUTIONS_REQUIRE_SANDBOX=1: bwrap was expected to work; see .ci/install-sandbox)")
    pytest.skip(reason)


def problem(*tests: tuple[str, str] | str, task_id: str = "t") -> Problem:
    """A problem whose tests are ``assertion`` strings or ``(ctx, assertion)`` pairs."""
    cases = tuple(TestCase(*t) if isinstance(t, tuple) else TestCase("", t) for t in tests)
    return Problem(task_id, "n", "p", "", cases, "c", 1)


def code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


def sandbox_files(workroot: Path) -> list[Path]:
    """Files left in the sandboxes' working directories (each sandbox keeps an empty one).

    An interpreter installed under /tmp (a clone there) is bound into the sandbox's /tmp,
    which is this directory in the unshare mode: its mount point is not a leftover."""
    interpreter = {Path(p).relative_to("/tmp").parts[0] for p in (sys.prefix, sys.base_prefix)
                   if p.startswith("/tmp/")}
    return [path for home in workroot.iterdir() for path in home.rglob("*")
            if path.relative_to(home).parts[0] not in interpreter]


@pytest.fixture
async def evaluator():
    ev = Evaluator(limits=LIMITS, workers=2)
    yield ev
    await ev.close()


@pytest.fixture
def contained_mode(evaluator):
    mode = select_isolation().mode
    if mode == "rlimits":
        _skip_unless_sandbox_required(
            "no namespace or user isolation on this machine (rlimits mode); run .ci/install-sandbox"
        )
    return mode


# --- correctness ------------------------------------------------------------------------


async def test_good_solution_passes_every_test(evaluator):
    result = await evaluator.evaluate(
        problem("assert add(1, 2) == 3", ("x = 10", "assert add(x, 5) == 15")),
        "def add(a, b):\n    return a + b\n",
    )
    assert [t.status for t in result.tests] == ["passed", "passed"]
    assert (result.tests_passed, result.tests_total, result.passed_all) == (2, 2, True)
    assert result.isolation == select_isolation().mode
    data = result.to_dict()
    assert data["passed_all"] is True and data["tests"][1]["status"] == "passed"


async def test_bad_solution_gets_failed_and_error_with_exception_types(evaluator):
    result = await evaluator.evaluate(
        problem("assert add(1, 2) == 3", "assert add(None, 1) == 1", ("raise KeyError('k')", "assert True")),
        "def add(a, b):\n    return a - b\n",
    )
    failed, error, ctx_error = result.tests
    assert failed.status == "failed" and failed.exc_type == "AssertionError"
    assert "add(1, 2) == 3" in failed.message  # a bare assert reports its own line
    assert error.status == "error" and error.exc_type == "TypeError" and error.phase == "assertion"
    assert ctx_error.status == "error" and ctx_error.exc_type == "KeyError" and ctx_error.phase == "ctx"
    assert "<ctx>" in ctx_error.traceback
    assert (result.tests_passed, result.passed_all) == (0, False)


async def test_solution_that_does_not_compile_is_an_error(evaluator):
    result = await evaluator.evaluate(problem("assert f() == 1"), "def f(:\n    return 1\n")
    assert result.tests[0].status == "error"
    assert result.tests[0].exc_type == "SyntaxError" and result.tests[0].phase == "code"


async def test_empty_solution_is_an_error_without_a_process(evaluator):
    for empty in (None, "", "   \n"):
        result = await evaluator.evaluate(problem("assert True", "assert True"), empty)
        assert [t.status for t in result.tests] == ["error", "error"]
        assert result.tests[0].reason == "empty_solution" and not result.passed_all
    assert evaluator.workroot is None or not any(evaluator.workroot.iterdir())


async def test_each_test_gets_a_fresh_working_directory_that_is_removed(evaluator):
    result = await evaluator.evaluate(
        problem(
            ("open('marker.txt', 'w').write('x')", "assert os.path.exists('marker.txt')"),
            "assert not os.path.exists('marker.txt')",
        ),
        "import os\n",
    )
    assert [t.status for t in result.tests] == ["passed", "passed"]
    workroot = evaluator.workroot
    if workroot is not None:  # modes with host working directories: nothing left in them
        assert sandbox_files(workroot) == []
        await evaluator.close()
        assert not workroot.exists()


async def test_state_does_not_leak_between_tests(evaluator):
    result = await evaluator.evaluate(
        problem(("seen.append(1)", "assert seen == [1]"), ("seen.append(2)", "assert seen == [2]")),
        "seen = []\n",
    )
    assert result.passed_all


# --- exits and crashes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("solution", "exc_type"),
    [("import sys\nsys.exit(0)\n", "SystemExit"), ("import os\nos._exit(0)\n", "NoResult")],
)
async def test_exit_before_the_assertion_never_counts_as_passed(evaluator, solution, exc_type):
    result = await evaluator.evaluate(problem("assert True"), solution)
    test = result.tests[0]
    assert test.status == "error" and test.exc_type == exc_type
    assert not result.passed_all


async def test_exit_inside_the_assertion_is_not_a_pass(evaluator):
    result = await evaluator.evaluate(problem("import os; os._exit(0)"), "x = 1\n")
    assert result.tests[0].status == "error" and result.tests[0].reason == "no_result"


async def test_deep_recursion_is_recorded_as_an_error(evaluator):
    result = await evaluator.evaluate(problem("assert depth(0) > 0"), "def depth(n):\n    return depth(n + 1)\n")
    assert result.tests[0].status == "error" and result.tests[0].exc_type == "RecursionError"


# --- resource abuse ---------------------------------------------------------------------


async def test_infinite_loop_times_out_and_the_next_test_still_runs(evaluator):
    result = await evaluator.evaluate(
        problem(("spin()", "assert True"), "assert answer() == 42"),
        "def spin():\n    while True:\n        pass\n\ndef answer():\n    return 42\n",
    )
    assert result.tests[0].status == "timeout" and result.tests[0].reason in ("wall_time", "cpu_time")
    assert result.tests[1].status == "passed"


async def test_solution_time_budget_stops_the_remaining_tests(evaluator):
    limits = SandboxLimits(test_timeout=1.0, solution_timeout=1.5, memory_bytes=256 << 20)
    ev = Evaluator(limits=limits, workers=1)
    try:
        spin = "def spin():\n    while True:\n        pass\n"
        result = await ev.evaluate(problem("spin()", "spin()", "spin()"), spin)
    finally:
        await ev.close()
    assert [t.status for t in result.tests] == ["timeout", "timeout", "timeout"]
    assert result.tests[2].reason == "solution_budget" and result.tests[2].duration == 0
    assert sum(t.duration for t in result.tests) < 3.0


async def test_fork_bomb_is_contained(evaluator, contained_mode):
    bomb = code(
        """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """
    )
    result = await evaluator.evaluate(problem("assert True"), bomb)
    assert result.tests[0].status in ("timeout", "error")
    # The machine can still start processes, and the next solution runs normally.
    after = await evaluator.evaluate(problem("assert 1 + 1 == 2"), "x = 1\n")
    assert after.passed_all


async def test_memory_bomb_is_contained(evaluator):
    bomb = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))\n"
    result = await evaluator.evaluate(problem("assert True"), bomb)
    test = result.tests[0]
    assert test.status in ("error", "timeout")
    assert test.exc_type == "MemoryError" and test.reason == "memory"


async def test_huge_output_is_truncated(evaluator):
    result = await evaluator.evaluate(
        problem("assert True"),
        "import sys\nfor _ in range(200):\n    print('x' * 10000)\n    sys.stderr.write('e' * 10000)\n",
    )
    test = result.tests[0]
    assert test.status == "passed"
    assert test.stdout_truncated and test.stderr_truncated
    assert len(test.stdout) < LIMITS.output_bytes + 200 and "output truncated" in test.stdout
    assert len(test.stderr) < LIMITS.output_bytes + 200


# --- escapes ----------------------------------------------------------------------------


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


async def test_background_process_neither_delays_nor_outlives_the_test(evaluator, contained_mode):
    if contained_mode == "nobody":
        pytest.skip("the nobody mode cannot kill processes that leave the process group")
    marker = f"sandbox-daemon-{os.getpid()}-{id(evaluator)}"
    solution = code(
        f"""
        import subprocess, sys
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30); {marker!r}"], start_new_session=True)
        print("started")
        """
    )
    result = await evaluator.evaluate(problem("assert True"), solution)
    assert result.tests[0].status == "passed" and result.tests[0].stdout == "started\n"
    for _ in range(100):  # the namespace is torn down asynchronously; allow it a moment
        if not _processes_with(marker):
            break
        await asyncio.sleep(0.05)
    assert _processes_with(marker) == []


async def test_network_connection_fails(evaluator, contained_mode):
    if contained_mode == "nobody":
        pytest.skip("the nobody mode does not contain the network")
    # A real listener on loopback: reachable from here, but not from inside the sandbox.
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        solution = code(
            f"""
            import socket
            def reach():
                try:
                    socket.create_connection(("127.0.0.1", {port}), timeout=0.5).close()
                    return "connected"
                except OSError as e:
                    return type(e).__name__
            """
        )
        result = await evaluator.evaluate(problem("assert reach() != 'connected', reach()"), solution)
    finally:
        server.close()
        await server.wait_closed()
    assert result.tests[0].status == "passed", result.tests[0].message


async def test_files_outside_the_working_directory_survive(evaluator, contained_mode, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    outside = Path(os.path.dirname(os.__file__)) / "llm_solutions_sandbox_probe.txt"
    solution = code(
        f"""
        import os
        errors = []
        for action in (lambda: os.remove({str(victim)!r}),
                       lambda: open({str(victim) + ".evil"!r}, "w").write("x"),
                       lambda: open({str(victim)!r}, "w").write("overwritten"),
                       lambda: open({str(outside)!r}, "w").write("x")):
            try:
                action()
            except OSError as e:
                errors.append(type(e).__name__)
        """
    )
    result = await evaluator.evaluate(problem("assert len(errors) == 4, errors"), solution)
    assert result.tests[0].status == "passed", result.tests[0].message
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "victim.txt.evil").exists()
    assert not outside.exists()


async def test_parent_environment_and_api_keys_are_invisible(evaluator, contained_mode, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    solution = code(
        f"""
        import os
        seen = [repr(dict(os.environ))]
        for pid in (os.getppid(), {os.getpid()}, 1):
            try:
                with open(f"/proc/{{pid}}/environ", "rb") as f:
                    seen.append(f.read().decode(errors="replace"))
            except OSError as e:
                seen.append(type(e).__name__)
        print("\\n".join(seen))
        """
    )
    result = await evaluator.evaluate(problem(f"assert not any({FAKE_KEY!r} in s for s in seen)"), solution)
    test = result.tests[0]
    assert test.status == "passed", test.message
    assert FAKE_KEY not in test.stdout and "OPENAI_API_KEY" not in test.stdout


async def test_killing_the_parent_and_the_test_runner_fails(evaluator, contained_mode):
    solution = code(
        f"""
        import os, signal
        outcomes = []
        for pid in (os.getppid(), {os.getpid()}, {os.getppid()}):
            try:
                os.kill(pid, signal.SIGKILL)
                outcomes.append("sent")
            except OSError as e:
                outcomes.append(type(e).__name__)
        """
    )
    result = await evaluator.evaluate(problem("assert True"), solution)
    # Still here: neither this process nor pytest's parent was killed.
    assert result.tests[0].status == "passed"
    assert os.getpid() > 0


# --- concurrency ------------------------------------------------------------------------


async def test_event_loop_keeps_running_during_evaluation(evaluator):
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    slow = "import time\ndef slow():\n    time.sleep(0.6)\n    return 1\n"
    result = await evaluator.evaluate(problem("assert slow() == 1"), slow)
    done.set()
    await task
    assert result.passed_all
    assert ticks >= 10  # ~60 expected; a blocked loop would give 1


async def test_many_solutions_in_parallel(evaluator):
    problems = [problem(f"assert f() == {i}", task_id=f"t{i}") for i in range(6)]
    solutions = [f"def f():\n    return {i}\n" for i in range(6)]
    results = await asyncio.gather(*(evaluator.evaluate(p, s) for p, s in zip(problems, solutions, strict=True)))
    assert [r.task_id for r in results] == [f"t{i}" for i in range(6)]
    assert all(r.passed_all for r in results)


async def test_closed_evaluator_refuses_work(evaluator):
    await evaluator.close()
    with pytest.raises(RuntimeError):
        await evaluator.evaluate(problem("assert True"), "x = 1\n")


# --- modes ------------------------------------------------------------------------------


def test_describe_isolation_names_the_mode_and_its_limits():
    info = describe_isolation()
    assert info["mode"] in MODES
    assert info["contained"] and isinstance(info["not_contained"], list)


@pytest.mark.skipif(not _sandbox_required(), reason="only with LLM_SOLUTIONS_REQUIRE_SANDBOX=1 (CI)")
def test_required_sandbox_selects_bwrap():
    mode = select_isolation().mode
    assert mode == "bwrap", (
        f"LLM_SOLUTIONS_REQUIRE_SANDBOX=1 but the sandbox runs in the weaker {mode!r} mode; "
        f"bwrap: {_probe('bwrap') or 'works when probed alone'}"
    )


def test_unknown_forced_mode_is_a_user_error():
    with pytest.raises(SandboxUnavailableError):
        select_isolation("chroot")


@pytest.mark.parametrize("mode", MODES)
async def test_every_working_mode_judges_solutions_alike(mode):
    reason = _probe(mode)
    if reason is not None:
        if mode == "nobody":  # legitimately unusable where the interpreter is out of nobody's reach
            pytest.skip(f"nobody does not work here: {reason}")
        _skip_unless_sandbox_required(f"{mode} does not work here: {reason}")
    ev = Evaluator(limits=LIMITS, workers=2, isolation=mode)
    try:
        result = await ev.evaluate(
            problem("assert f(2) == 4", "assert f(2) == 5", "import sys; sys.exit(0)", "f(None)"),
            "def f(x):\n    return x * 2\n",
        )
        assert [t.status for t in result.tests] == ["passed", "failed", "error", "error"]
        assert result.isolation == mode
        if ev.workroot is not None:
            assert sandbox_files(ev.workroot) == []
    finally:
        await ev.close()
