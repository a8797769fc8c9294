"""The statistics under ``stats`` and the report, checked against pandas computations on
``load_session()`` of sessions collected from the fake providers, with tests run in the
sandbox: passes, assertion failures, errors, syntax errors, missing code, failed calls and
hostile answers.

The ``sessions`` fixture (two sessions on the same problems) is shared with the report's
tests (``tests/test_report.py``) and built once per test run.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import shutil
import threading
from pathlib import Path

import pytest

from llm_solutions.cli import main
from llm_solutions.dataset import load_dataset
from llm_solutions.evaluation.passk import pass_at_k
from llm_solutions.files import record_line
from llm_solutions.report import get_statistics
from llm_solutions.report.comparison import mcnemar_exact
from llm_solutions.report.figures import frontier
from llm_solutions.report.tally import wilson_interval
from tests.support.fake_providers import serve_in_thread
from tests.support.fake_wire import Fail, Reply

CATEGORIES = ["closure", "decorator", "enum", "recursion", "sorting", "typing"]
MODELS = {"openai": "gpt-6-luna", "anthropic": "claude-haiku-5-5", "gemini": "gemini-3.5-flash-lite"}
HOSTILE = ('Here you go </pre></details><script>alert("owned")</script> \x1b[2J\x1b[31mred\x07 '
           "lone \ud800 surrogate <img src=x onerror=alert(1)>\n\n```python\n"
           'def factorial(n):\n    raise RuntimeError("</details><script>bad()</script>")\n```\n')


def _answer(api: str, problem, round_: int) -> Reply | Fail:
    """What each fake model answers: mostly the canonical solution, with failures of every kind."""
    right = Reply(text=f"Sure.\n\n```python\n{problem.canonical_solution}```\n")
    stub = Reply(text=f"```python\ndef {problem.name}(*args, **kwargs):\n    return None\n```")
    category = problem.category
    if api == "openai":
        return stub if category == "sorting" else right
    if api == "anthropic":
        if category == "recursion":
            return Reply(text=f"```python\ndef {problem.name}(n):\n    raise RuntimeError('no')\n```")
        if category == "typing":
            return Reply(text=f"```python\ndef {problem.name}(:\n    pass\n```")
        if category == "enum":
            return Reply(text="I would rather not write code for this one.")
        if category == "closure" and round_ == 1:
            return stub  # one of two samples wrong: pass@1 = 0.5 on this problem
        return right
    if category == "decorator":
        return Fail("bad_request", message="fake refusal of <b>this</b> request")
    return stub if category == "recursion" else right


def _responder():
    problems = [p for p in load_dataset().problems if p.category in CATEGORIES]
    seen: dict[tuple[str, str], itertools.count] = {}
    lock = threading.Lock()

    def respond(api: str, body) -> Reply | Fail:
        text = json.dumps(body)
        problem = next(p for p in problems if json.dumps(p.problem)[1:-1] in text)
        with lock:
            round_ = next(seen.setdefault((api, problem.task_id), itertools.count()))
        return _answer(api, problem, round_)

    return respond


def _collect(out: Path, session_id: str) -> None:
    with serve_in_thread() as fake, pytest.MonkeyPatch.context() as env:
        for name, value in {**fake.base_url_env(), **fake.key_env()}.items():
            env.setenv(name, value)
        fake.responder = _responder()
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = main(["collect", "--no-progress", "--no-cache", "--quick-test", "--samples", "2",
                         "--models", *MODELS.values(), "--categories", *CATEGORIES, "--max-attempts", "1",
                         "--rpm", "100000", "--tpm", "100000000",  # the fake server has no limit to respect
                         "--output-dir", str(out), "--session-id", session_id])
        assert code in (0, 1), code  # 1: the failed calls are reported as failed tasks
        # The run's last line says how to see the report.
        assert printed.getvalue().splitlines()[-1] == f"report: llm-solutions report {session_id} --output-dir {out}"


def _later_session(before: Path, after: Path) -> None:
    """A copy of ``before`` as a later run would have left it, written in the store's format:
    gpt-6-luna now fails three more problems, claude-haiku-5-5 fixed its syntax error, and its
    recursion answers are hostile text (markup, escape codes, a lone surrogate)."""
    shutil.copytree(before, after)
    for path in after.glob("*/*.jsonl"):
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            model, category = record["model"], record["category"]
            if model == "gpt-6-luna" and category in {"closure", "recursion", "typing"}:
                record["passed_all"], record["tests_passed"] = False, 0
                for test in record["evaluation"]["tests"]:
                    test["status"] = "failed"
            if model == "claude-haiku-5-5" and category == "typing":
                record["validation"]["is_fully_valid"] = True
                record["validation"]["syntax"] = {"is_valid": True, "error": None, "line": None}
                record["passed_all"], record["tests_passed"], record["tests_total"] = True, 3, 3
                record["evaluation"] = {"tests": [{"status": "passed"}] * 3, "passed_all": True}
            if model == "claude-haiku-5-5" and category == "recursion":
                record["raw_response"] = HOSTILE
            lines.append(record_line(record))
        path.write_text("".join(lines), encoding="utf-8")


@pytest.fixture(scope="session")
def sessions(tmp_path_factory) -> tuple[Path, Path]:
    """Two sessions of three models on the same six problems, two samples each: ``before``
    collected from the fake providers with its tests run in the sandbox, ``after`` made
    from it (``_later_session``).  Built once per run: a module that imports this fixture
    gets its own copy of it (pytest may import this file under two names), so the copies
    share the folder."""
    out = tmp_path_factory.getbasetemp() / "report-sessions" / "generated"
    if not (out / "after").is_dir():
        _collect(out, "before")
        _later_session(out / "before", out / "after")
    return out / "before", out / "after"


def expected_models(frame) -> dict[str, dict]:
    """The headline numbers computed straight from the records with pandas."""
    import pandas as pd

    found = {}
    for model, rows in frame.groupby("model"):
        tested = rows[rows["tests_total"].notna()]
        answered = rows[rows["llm_call_success"].astype(bool)]
        per_task = tested.groupby("task_id")["passed_all"].agg(["size", "sum"])
        extraction = rows["extraction"].map(lambda e: ((e or {}).get("llm") or {}).get("cost") or 0.0)
        found[model] = {
            "tasks": len(rows),
            "valid_rate": rows["is_fully_valid"].fillna(False).astype(bool).mean(),
            "pass_rate": tested["passed_all"].astype(bool).mean() if len(tested) else math.nan,
            "pass@1": sum(pass_at_k(int(n), int(c), 1) for n, c in per_task.itertuples(index=False)) / len(per_task),
            "cost": float(rows["cost"].sum() + extraction.sum()),
            "input_tokens": int(rows["input_tokens"].sum()),
            "output_tokens": int(rows["output_tokens"].sum()),
            "latency_p50": float(pd.to_numeric(answered["latency"]).median()),
            "latency_p95": float(pd.to_numeric(answered["latency"]).quantile(0.95)),
            "attempts": int(rows["attempts"].sum()),
            "cache_hits": int(rows["cache_hit"].astype(bool).sum()),
        }
    return found


def test_model_table_equals_pandas_on_the_records(sessions):
    import llm_solutions as ls

    before, _ = sessions
    frame = ls.load_session(before)
    stats = ls.get_statistics(before)
    got = {row["model"]: row for row in stats.rows("models")}
    want = expected_models(frame)
    assert set(got) == set(MODELS.values()) == set(want)
    for model, numbers in want.items():
        for key, value in numbers.items():
            assert got[model][key] == pytest.approx(value, nan_ok=True), (model, key)
    assert list(stats.models.columns[:3]) == ["session", "model", "tasks"]
    # The failures are the ones scripted: every kind shows up under its reason.
    reasons = {(r["model"], r["reason"]): r["count"] for r in stats.rows("failures")}
    assert reasons[("gpt-6-luna", "tests: assertion")] == 2
    assert reasons[("claude-haiku-5-5", "tests: error")] == 3  # recursion twice; a closure stub not callable
    assert reasons[("claude-haiku-5-5", "invalid code: syntax error")] == 2
    assert reasons[("claude-haiku-5-5", "no code extracted")] == 2
    assert reasons[("gemini-3.5-flash-lite", "call failed: bad_request")] == 2
    assert got["claude-haiku-5-5"]["pass@1"] == pytest.approx(2.5 / 6)  # enum, typing, recursion fail; closure half


def test_category_and_complexity_tables_equal_pandas(sessions):
    import llm_solutions as ls

    before, _ = sessions
    frame = ls.load_session(before)
    stats = get_statistics([before])
    for row in stats.rows("categories"):
        rows = frame[(frame["model"] == row["model"]) & (frame["category"] == row["category"])]
        tested = rows[rows["tests_total"].notna()]
        assert row["tasks"] == len(rows)
        assert row["pass_rate"] == pytest.approx(tested["passed_all"].astype(bool).mean() if len(tested) else math.nan,
                                                 nan_ok=True)
        assert row["cost"] == pytest.approx(rows["cost"].sum())
    for row in stats.rows("complexities"):
        rows = frame[(frame["model"] == row["model"]) & (frame["complexity"] == row["complexity"])]
        assert row["tasks"] == len(rows)
        assert row["valid"] == int(rows["is_fully_valid"].fillna(False).astype(bool).sum())
    assert sum(r["tasks"] for r in stats.rows("extraction")) == len(frame)


def test_problems_and_paired_comparison(sessions):
    import llm_solutions as ls

    before, after = sessions
    stats = ls.get_statistics([before, after])
    assert stats.several and [r["session"] for r in stats.rows("models")][:3] == ["before"] * 3
    rows = {r["model"]: r for r in stats.rows("comparisons")}
    luna = rows["gpt-6-luna"]
    assert (luna["problems"], luna["worse"], luna["better"]) == (6, 3, 0)
    assert luna["delta"] == pytest.approx(-3 / 6)
    assert luna["p_value"] == pytest.approx(0.25) and not luna["significant"]
    haiku = rows["claude-haiku-5-5"]
    assert (haiku["worse"], haiku["better"]) == (0, 1)
    # Problems: each of the six model runs' outcome per problem, hardest first.
    problems = stats.rows("problems")
    by_task = {r["task_id"]: r for r in problems}
    assert problems[0]["failed"] == max(r["failed"] for r in problems)
    sorting = next(r for t, r in by_task.items() if t.startswith("sorting"))
    assert "gpt-6-luna (before)" in sorting["failed_by"] and sorting["runs"] == 6
    decorator = next(r for t, r in by_task.items() if t.startswith("decorator"))
    assert decorator["runs"] == 4  # gemini's calls failed: nothing tested, nothing to count


def test_exact_mcnemar_matches_the_binomial_test():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(3, 0) == pytest.approx(0.25)
    assert mcnemar_exact(5, 5) == 1.0
    # Against the exact binomial test's own definition (scipy's binomtest, "two-sided"): the
    # total probability of every outcome no more likely than the one observed.
    for worse, better in [(1, 9), (12, 30), (40, 41), (0, 17), (200, 260)]:
        n = worse + better
        observed = math.comb(n, better)
        expected = sum(math.comb(n, k) for k in range(n + 1) if math.comb(n, k) <= observed) / 2**n
        assert mcnemar_exact(worse, better) == pytest.approx(min(1.0, expected), rel=1e-12)


def test_wilson_interval_and_frontier():
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson_interval(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    points = [(1.0, 0.5, "a"), (2.0, 0.4, "b"), (3.0, 0.9, "c"), (0.5, 0.5, "d"), (4.0, 0.9, "e")]
    assert [p[2] for p in frontier(points)] == ["d", "c"]


def test_stats_command_prints_the_table_and_json(sessions, capsys):
    before, _ = sessions
    assert main(["stats", str(before)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["model", "tasks", "valid", "pass"]
    luna = next(line for line in lines if line.startswith("gpt-6-luna"))
    assert "83.3%" in luna and " 12 " in f" {luna} "
    assert main(["stats", "before", "after", "--output-dir", str(before.parent), "--by", "category"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["session", "model", "category"] and "typing" in out
    assert main(["stats", str(before), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {r["model"] for r in data["models"]} == set(MODELS.values())
    assert data["comparisons"] == []


def test_missing_and_empty_sessions_are_one_line_exit_2(sessions, tmp_path, capsys):
    before, _ = sessions
    for command in ("stats", "report"):
        assert main([command, "no_such_session", "--output-dir", str(before.parent)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no_such_session" in err and "before" in err
    empty = tmp_path / "runs" / "empty"
    empty.mkdir(parents=True)
    (empty / "progress.json").write_text("{}")
    assert main(["stats", "empty", "--output-dir", str(empty.parent)]) == 2
    assert "has no records" in capsys.readouterr().err
    assert main(["report", str(before), str(before)]) == 2
    assert "given twice" in capsys.readouterr().err
    # A records file holding only a torn line reads as no records, and nothing is written.
    torn = tmp_path / "runs" / "torn"
    shutil.copytree(before, torn)
    for path in torn.glob("*/*.jsonl"):
        path.write_text('{"task_id": "x", "mod')
    assert main(["report", str(torn), "--out", str(tmp_path / "r.html")]) == 2
    assert "no readable records" in capsys.readouterr().err and not (tmp_path / "r.html").exists()


def test_examples_are_few_and_cut(sessions):
    from llm_solutions.report.statistics import EXAMPLE_CHARS, EXAMPLES

    stats = get_statistics(sessions[1])
    assert stats.examples and all(len(found) <= EXAMPLES for found in stats.examples.values())
    assert all(len(ex.answer) <= EXAMPLE_CHARS + 40 for found in stats.examples.values() for ex in found)
    hostile = next(ex for ex in stats.examples["tests: error"] if ex.task_id.startswith("recursion"))
    assert "\ud800" in hostile.answer and "<script>" in hostile.answer  # kept as written; escaped on the page
