"""What an evaluation records: one ``TestResult`` per test, one ``SolutionEvaluation`` per solution."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASSED = "passed"
FAILED = "failed"  # the assertion raised AssertionError
ERROR = "error"  # any other exception, a crash, or an exit before the test finished
TIMEOUT = "timeout"
STATUSES = (PASSED, FAILED, ERROR, TIMEOUT)

# ``reason`` says more where the status alone cannot.
REASON_WALL_TIME = "wall_time"  # the per-test time limit ran out; the process group was killed
REASON_CPU_TIME = "cpu_time"  # RLIMIT_CPU: SIGXCPU or SIGKILL from the kernel
REASON_SOLUTION_BUDGET = "solution_budget"  # the solution's total time was used up; not run
REASON_MEMORY = "memory"  # MemoryError under RLIMIT_AS, or killed by the sandbox's memory cap
REASON_SIGNAL = "signal"  # killed by another signal (e.g. SIGSEGV from a C-stack overflow)
REASON_NO_RESULT = "no_result"  # exited (sys.exit/os._exit) before the test finished
REASON_EMPTY = "empty_solution"  # nothing to run; no process was started
REASON_TAMPERING = "tampering"  # the solution patched builtins or reached for the harness's memory
REASON_FOREIGN_EQUALITY = "foreign_equality"  # the solution's own __eq__ (etc.) decided an assertion
REASON_SANDBOX = "sandbox_lost"  # the test server stopped answering; the sandbox was replaced


@dataclass
class TestResult:
    """The outcome of one test (solution + ``ctx`` + ``assertion``) in its own process."""

    __test__ = False  # not a pytest class

    index: int
    status: str
    duration: float = 0.0
    reason: str | None = None
    phase: str | None = None  # "code", "ctx" or "assertion": where the exception was raised
    exc_type: str | None = None
    message: str = ""
    traceback: str = ""
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    returncode: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def summary(self) -> str:
        """One line: ``status: ExcType: message`` (or the reason)."""
        message = self.message.strip()
        detail = message.splitlines()[0][:200] if message else (self.reason or "")
        return ": ".join(p for p in (self.status, self.exc_type, detail) if p)


@dataclass
class SolutionEvaluation:
    """Every test's outcome for one solution of one problem."""

    task_id: str
    tests: list[TestResult] = field(default_factory=list)
    isolation: str = ""
    duration: float = 0.0

    @property
    def tests_total(self) -> int:
        return len(self.tests)

    @property
    def tests_passed(self) -> int:
        return sum(1 for t in self.tests if t.status == PASSED)

    @property
    def passed_all(self) -> bool:
        return bool(self.tests) and self.tests_passed == self.tests_total

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the per-test results and the totals."""
        return {
            "task_id": self.task_id,
            "tests_passed": self.tests_passed,
            "tests_total": self.tests_total,
            "passed_all": self.passed_all,
            "isolation": self.isolation,
            "duration": round(self.duration, 4),
            "tests": [t.to_dict() for t in self.tests],
        }
