"""Evaluation on Ray: a cluster of several nodes, each a set of processes on this machine.

Ray's own test utility (``ray.cluster_utils.Cluster``) starts a head node without CPUs
(it only coordinates) and two worker nodes of one CPU each, once for this module: Ray
starts slowly, so the tests here are few.  Every address is loopback and Ray sends no
usage statistics (``RAY_ENV``), so the network guard of ``conftest.py`` holds.

Without Ray installed these tests are skipped, except with ``LLM_SOLUTIONS_REQUIRE_RAY=1``
(``.ci/run``, which installs the ``ray`` extra), where they fail.  The one-line error of
``--ray`` without Ray needs no Ray and always runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from llm_solutions.cli import main
from llm_solutions.collection.rescoring import evaluate_session
from llm_solutions.collection.runner import CollectionRunner
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.dataset import BUILTIN_DATASET, Problem, load_dataset
from llm_solutions.errors import ConfigError
from llm_solutions.evaluation import Evaluator, SolutionEvaluation
from llm_solutions.evaluation.cluster import RayEvaluator
from llm_solutions.generation import generate_dataset
from tests.support.fake_wire import Reply
from tests.support.problem_factory import asked, batch_text, good_item, user_prompt
from tests.test_generation_run import fake, models_file, settings  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent
# Loopback only (Ray otherwise resolves 127.0.0.1 to the machine's outward address), and
# no usage reports to Ray's servers.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def _ray_required() -> bool:
    return os.environ.get("LLM_SOLUTIONS_REQUIRE_RAY") == "1"


@pytest.fixture(scope="module")
def cluster():
    """A head without CPUs and two one-CPU nodes; the test process is the driver."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in RAY_ENV.items():
            patch.setenv(name, value)
        try:
            import ray
            from ray.cluster_utils import Cluster
        except ImportError:
            if _ray_required():
                pytest.fail('Ray is not installed (LLM_SOLUTIONS_REQUIRE_RAY=1: pip install -e ".[ray]")')
            pytest.skip('Ray is not installed (pip install -e ".[ray]")')
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            yield cluster
        finally:
            ray.shutdown()
            cluster.shutdown()


def slow_dataset(folder: Path, count: int, seconds: float) -> Path:
    """``count`` problems whose canonical solution takes ``seconds`` per test."""
    folder.mkdir()
    lines = []
    for n in range(count):
        code = f"import time\n\n\ndef f(x):\n    time.sleep({seconds})\n    return x + {n}\n"
        lines.append(json.dumps({"task_id": f"slow_{n + 1}", "name": "f", "problem": f"Add {n} to x.",
                                 "canonical_solution": code, "category": "slow", "complexity": 1,
                                 "tests": [{"ctx": "", "assertion": f"assert f(1) == {n + 1}"}]}))
    (folder / "slow.jsonl").write_text("\n".join(lines) + "\n")
    return folder


async def collected(out: Path, session: str, dataset: Path) -> Path:
    """A session of the offline model's answers (the canonical solutions), tests not run."""
    settings = CollectionSettings(models=["offline"], dataset_path=str(dataset), output_dir=str(out),
                                  session_id=session, execute=False)
    result = await CollectionRunner(settings, handle_signals=False).run()
    return result.path


def records(session: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for p in sorted(session.glob("*/*.jsonl")) for line in p.read_text().splitlines()]


def outcome(evaluation: SolutionEvaluation) -> list[tuple[Any, ...]]:
    return [(t.index, t.status, t.reason, t.phase, t.exc_type, t.message) for t in evaluation.tests]


class Counting:
    """An evaluator that counts the solutions it is asked to evaluate."""

    def __init__(self, inner: RayEvaluator) -> None:
        self.inner = inner
        self.calls = 0

    async def evaluate(self, problem: Problem, code: str | None) -> SolutionEvaluation:
        self.calls += 1
        return await self.inner.evaluate(problem, code)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_ray_option_without_ray_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as when it is not installed
    code = main(["collect", "--models", "offline", "--quick-test", "--categories", "enum", "--no-progress",
                 "--output-dir", str(tmp_path / "out"), "--ray"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert 'pip install "llm-solutions[ray]"' in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("session_*"))
    with pytest.raises(ConfigError, match=r"ray='http://x' is not a Ray address.*\(--ray\)"):
        CollectionSettings(ray="http://x")


def test_an_unreachable_cluster_is_one_line_and_nothing_is_created(tmp_path, capsys):
    if not _ray_required():
        pytest.importorskip("ray")
    with socket.socket() as sock:  # a port on loopback that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = main(["collect", "--models", "offline", "--quick-test", "--categories", "enum", "--no-progress",
                 "--output-dir", str(tmp_path / "out"), "--ray", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in err and "ray start --head" in err
    assert not (tmp_path / "out").exists()  # neither a session folder nor the cache file


async def test_results_equal_a_local_run_and_each_node_reports_its_mode(cluster, tmp_path):
    problems = [p for p in load_dataset(BUILTIN_DATASET).problems if p.task_id.endswith("_1")]
    solutions = [(p, code) for p in problems for code in (
        p.canonical_solution,                      # passes
        f"def {p.name}(*args, **kwargs):\n    return None\n",  # fails its assertions
        "raise RuntimeError('broken at import')",  # errors in the code phase
        "",                                        # nothing to run
    )]
    local = Evaluator(workers=2)
    try:
        expected = [outcome(r) for r in await asyncio.gather(*(local.evaluate(p, c) for p, c in solutions))]
        mode = (await local.describe_isolation())["mode"]
    finally:
        await local.close()
    async with RayEvaluator(address=cluster.address) as remote:
        got = await asyncio.gather(*(remote.evaluate(p, c) for p, c in solutions))
        summary = remote.summary()
    assert [outcome(r) for r in got] == expected
    assert {r.isolation for r, (_, code) in zip(got, solutions, strict=True) if code} == {mode}
    nodes = summary["ray"]["nodes"]
    assert summary["mode"] == mode and len(nodes) == 2 and {n["isolation"] for n in nodes} == {mode}
    assert sum(n["solutions"] for n in nodes) == len(solutions) and all(n["solutions"] for n in nodes)

    # collect --ray: the same records as a local collection, and the nodes in summary.json.
    for session, ray in (("here", []), ("there", ["--ray", cluster.address])):
        assert await asyncio.to_thread(main, [
            "collect", "--models", "offline", "--quick-test", "--categories", "enum", "json", "--no-progress",
            "--output-dir", str(tmp_path), "--session-id", session, *ray]) == 0
    here, there = (sorted(records(tmp_path / s), key=lambda r: r["task_id"]) for s in ("here", "there"))
    strip = ("duration", "stdout", "stderr", "traceback")
    assert [[{k: v for k, v in t.items() if k not in strip} for t in r["evaluation"]["tests"]] for r in here] == \
           [[{k: v for k, v in t.items() if k not in strip} for t in r["evaluation"]["tests"]] for r in there]
    isolation = json.loads((tmp_path / "there" / "summary.json").read_text())["collection_metadata"][
        "evaluation_isolation"]
    assert isolation["mode"] == mode and len(isolation["ray"]["nodes"]) == 2


async def test_a_node_lost_mid_run_loses_nothing_and_records_nothing_twice(cluster, tmp_path):
    count = 16
    session = await collected(tmp_path, "s", slow_dataset(tmp_path / "data", count, 0.4))
    victim = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    remote = RayEvaluator(address=cluster.address, batch_size=2)
    run = asyncio.create_task(evaluate_session("s", tmp_path, evaluator=remote))
    try:
        deadline = time.monotonic() + 60
        while True:  # until the victim has answered once and has more in flight
            node = remote._nodes.get(victim.node_id)
            if node is not None and node.solutions and node.in_flight:
                break
            assert time.monotonic() < deadline and not run.done(), "the new node never got work"
            await asyncio.sleep(0.02)
        os.kill(int((node.description or {})["pid"]), signal.SIGKILL)  # the machine goes: its worker too
        await asyncio.to_thread(cluster.remove_node, victim, False)
        await asyncio.wait_for(run, 120)
        summary = remote.summary()
    finally:
        await remote.close()
    got = records(session)
    assert len(got) == count and len({r["task_id"] for r in got}) == count
    assert all(r["passed_all"] and r["tests_total"] == 1 for r in got)
    assert remote.requeued >= 1
    lost = [n for n in summary["ray"]["nodes"] if n.get("lost")]
    assert [n["node_id"] for n in lost] == [victim.node_id]
    assert sum(n["solutions"] for n in summary["ray"]["nodes"]) == count


async def test_a_killed_driver_resumes_with_only_the_unevaluated_solutions(cluster, tmp_path):
    count = 24
    session = await collected(tmp_path, "k", slow_dataset(tmp_path / "data", count, 0.3))
    partial = session / "offline" / ".slow.jsonl.partial"
    env = {**os.environ, **RAY_ENV, "LLM_SOLUTIONS_NO_DOTENV": "1", "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen([sys.executable, "-m", "llm_solutions", "evaluate", "k", "--output-dir", str(tmp_path),
                               "--no-progress", "--ray", cluster.address], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while not partial.exists() or len(partial.read_bytes().splitlines()) < 4:
            assert driver.poll() is None, driver.stderr.read().decode() if driver.stderr else ""
            assert time.monotonic() < deadline, "the driver evaluated nothing"
            await asyncio.sleep(0.02)
    finally:
        driver.kill()
        driver.wait()
        if driver.stderr:
            driver.stderr.close()
    done = len([line for line in partial.read_text().splitlines(keepends=True) if line.endswith("\n")])
    assert 4 <= done < count
    counting = Counting(RayEvaluator(address=cluster.address))
    try:
        await evaluate_session("k", tmp_path, evaluator=counting)  # type: ignore[arg-type]
    finally:
        await counting.inner.close()
    assert counting.calls == count - done
    got = records(session)
    assert [r["task_id"] for r in got] == [f"slow_{n + 1}" for n in range(count)]  # original order
    assert all(r["passed_all"] for r in got)
    assert not partial.exists() and not (session / ".pass.json").exists()


async def test_generation_verifies_its_candidates_on_the_cluster(cluster, tmp_path, fake, models_file):  # noqa: F811
    numbers = iter(range(500, 600))
    fake.responder = lambda api, body: Reply(text=batch_text(
        [good_item(next(numbers), level) for level in asked(user_prompt(api, body))[2]]))
    report = await generate_dataset({"categories": [{"name": "chains", "count": 4, "complexity": 1}]},
                                    **settings(tmp_path, models_file, batch_size=4, ray=cluster.address))
    assert report["status"] == "completed" and report["accepted"]["total"] == 4
    verification = report["checks"]["verification"]
    nodes = verification["ray"]["nodes"]
    assert verification["sandbox"] == nodes[0]["isolation"] and len(nodes) == 2
    assert sum(n["solutions"] for n in nodes) >= 4 * 3  # two runs of each solution and at least one stub
