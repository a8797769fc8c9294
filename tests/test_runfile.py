"""Run files (YAML and TOML) in the one precedence rule, their errors, ``run``, ``info``,
``list``, ``--limit`` and ``--force``; the session stores the resolved settings and a
resume uses them.  Collection runs use the offline model on the built-in set, tests off."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

from llm_solutions.cli import main
from llm_solutions.cli.listing import since_time
from llm_solutions.collection.runfile import CACHE_KEYS, MODEL_KEYS, SECTIONS, TOP_LEVEL, load_run_file
from llm_solutions.collection.session import resume_runner
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.errors import ConfigError
from tests.support.provider_harness import fake, harness  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent

RUN = """\
# a demo run
models:
  - offline
  - name: offline-demo        # a model of this run only
    provider: offline
    api_model: offline
    temperature: 0.0
    timeout: 30
datasets:
  categories: [json, typing]
run:
  samples: 1
  demo_limit: 2
  checkpoint_every: 7
  output_dir: sessions
  session_id: demo
evaluation:
  execute: false
cache:
  ttl_seconds: 7d
budget:
  max_cost: 3.5
"""


def _write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _load(path: Path, given=None, env=None) -> CollectionSettings:
    run_file = load_run_file(path)
    given = dict(given or {})
    given["cache"] = run_file.cache_given(given.pop("cache", {}), env=env)
    return CollectionSettings.load(given, config=run_file, env=env or {})


def test_a_run_file_sets_every_section_and_paths_are_relative_to_it(tmp_path):
    settings = _load(_write(tmp_path, RUN))
    assert settings.models == ["offline", "offline-demo"]
    assert settings.categories == ["json", "typing"] and settings.demo_limit == 2
    assert settings.checkpoint_every == 7 and settings.max_cost == 3.5 and settings.execute is False
    assert settings.output_dir == str(tmp_path / "sessions") and settings.session_id == "demo"
    assert settings.cache == {"ttl_seconds": 7 * 86400.0}
    row = settings.load_registry().get("offline-demo")
    assert row.timeout == 30 and row.model_params["temperature"] == 0.0 and row.provider == "offline"


def test_precedence_defaults_file_environment_command_line(tmp_path):
    path = _write(tmp_path, RUN)
    env = {"CHECKPOINT_EVERY": "5", "LLM_SOLUTIONS_CACHE_TTL": "1d"}
    settings = _load(path, env=env)
    assert settings.checkpoint_every == 5  # the environment beats the file
    assert settings.cache == {"ttl_seconds": 86400.0}
    assert settings.model_concurrency == 3  # the default, the file does not set it
    settings = _load(path, given={"checkpoint_every": 3, "samples": 2, "cache": {"ttl_seconds": "2h"}}, env=env)
    assert settings.checkpoint_every == 3 and settings.samples == 2  # the command line beats both
    assert settings.cache == {"ttl_seconds": 7200.0}
    # A bad value in the file is never read when something above overrides it.
    bad = _write(tmp_path, RUN.replace("checkpoint_every: 7", "checkpoint_every: many"), "bad.yaml")
    assert _load(bad, env=env).checkpoint_every == 5


def test_toml_run_files_take_the_same_keys(tmp_path):
    path = _write(tmp_path, '[[models]]\nname = "offline"\n\n[run]\nsamples = 2\ndemo_limit = 1\n\n'
                  '[evaluation]\nexecute = false\n', "run.toml")
    settings = _load(path)
    assert settings.samples == 2 and settings.demo_limit == 1 and settings.models == ["offline"]
    bad = _write(tmp_path, "[run]\nsamples = 2\nsampels = 3\n", "bad.toml")
    with pytest.raises(ConfigError, match=r"bad.toml line 3: run.sampels: unknown key; did you mean 'samples'\?"):
        load_run_file(bad)


@pytest.mark.parametrize("text,message", [
    (RUN.replace("  samples: 1", "  sampels: 1"), r"run.yaml line 12: run.sampels: unknown key; did you mean 'samples'"),
    (RUN.replace("datasets:", "dataset:"), r"run.yaml line 9: dataset: unknown key; did you mean 'datasets'"),
    (RUN.replace("    timeout: 30", "    timout: 30"), r"line 8: models\[1\].timout: unknown model key; did you mean "
                                                         r"'timeout'"),
    (RUN.replace("  - offline\n", "  - ofline\n"), r"run.yaml line 3: models\[0\]: unknown model 'ofline'; did you "
                                                  r"mean 'offline'"),
    (RUN.replace("  samples: 1", "  samples: many"), r"run.yaml line 12: run.samples='many' is not valid"),
    (RUN.replace("    temperature: 0.0", "    temperature: hot"), r"run.yaml line 7: models\[1\].temperature: 'offline-demo': "
                                                                   r"model_params.temperature = 'hot' is not valid"),
    (RUN.replace("    provider: offline", "    provider: nowhere"), r"line 5: models\[1\].provider: unknown "
                                                                      r"provider 'nowhere'"),
    (RUN.replace("run:\n", "run: [1, 2]\nx:\n"), r"run.yaml line 11: run: must be a mapping"),
    ("models: [offline\nrun: {samples: 2}\n", r"run.yaml line 2: not valid YAML"),
    ("- just\n- a list\n", r"run.yaml line 1: a run file is a mapping"),
])
def test_bad_run_files_are_one_line_exit_2_and_create_nothing(tmp_path, capsys, text, message):
    path = _write(tmp_path, text)
    assert main(["run", str(path), "--no-progress", "--yes"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "sessions").exists() and not (tmp_path / "generated").exists()


def test_a_missing_run_file_is_one_line(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err
    assert main(["info", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_run_stores_the_resolved_settings_and_resume_uses_them(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the cache file and anything else land here, not in the repo
    path = _write(tmp_path, RUN)
    assert main(["run", str(path), "--no-progress", "--yes"]) == 0, capsys.readouterr().err
    session = tmp_path / "sessions" / "demo"
    stored = json.loads((session / "progress.json").read_text())["session_parameters"]
    assert stored["demo_limit"] == 2 and stored["checkpoint_every"] == 7 and stored["max_cost"] == 3.5
    assert [row["name"] for row in stored["model_rows"]] == ["offline-demo"]
    records = {p.name: p.read_text().splitlines() for p in (session / "offline-demo").glob("*.jsonl")}
    assert sorted(records) == ["json.jsonl", "typing.jsonl"] and all(len(v) == 2 for v in records.values())
    # Lose one file of records; a resume (no run file, another working folder) redoes exactly it.
    (session / "offline-demo" / "json.jsonl").unlink()
    monkeypatch.chdir(ROOT / "tests")
    result = asyncio.run(resume_runner("demo", tmp_path / "sessions").run())
    assert result.exit_code == 0
    redone = (session / "offline-demo" / "json.jsonl").read_text().splitlines()
    assert [json.loads(line)["task_id"] for line in redone] == ["json_1", "json_2"]


def test_info_shows_settings_with_sources_keys_counts_and_cost(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CHECKPOINT_EVERY", "4")
    path = _write(tmp_path, RUN.replace("  - offline\n", "  - offline\n  - gpt-6-luna\n"))
    assert main(["info", str(path), "--samples", "3"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint_every       4" in out and "(environment CHECKPOINT_EVERY)" in out
    assert "(flag --samples)" in out and "run.yaml line 14)" in out  # demo_limit from the file
    assert "gpt-6-luna" in out and "✗    OPENAI_API_KEY" in out and "missing keys: OPENAI_API_KEY" in out
    assert "json                         2" in out and "typing                       2" in out
    assert "total tasks: 36" in out and "est $" in out
    assert main(["info", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_tasks"] == 12 and data["dataset"]["selected_per_category"] == {"json": 2, "typing": 2}
    assert {m["name"]: m["key"] for m in data["models"]}["gpt-6-luna"] == "missing"
    assert not (tmp_path / "sessions").exists()


def test_limit_flag_takes_the_first_n_of_each_category(capsys):
    assert main(["collect", "--models", "offline", "--limit", "1", "--categories", "json", "enum", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "selected: 2 problems in 2 categories (first 1 per category)" in out and "total tasks: 2" in out
    assert main(["collect", "--models", "offline", "--limit", "0", "--dry-run"]) == 2
    assert "demo_limit=0 is not valid" in capsys.readouterr().err


def test_force_moves_the_old_session_aside_and_starts_again(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["collect", "--models", "offline", "--categories", "json", "--limit", "1", "--no-execute",
            "--output-dir", str(tmp_path), "--no-progress", "--yes"]
    assert main(["collect", "--models", "offline", "--force", "--output-dir", str(tmp_path), "--dry-run"]) == 2
    assert "--force needs --session-id" in capsys.readouterr().err
    assert main([*base, "--session-id", "s1"]) == 0
    assert main([*base, "--session-id", "s1"]) != 0  # never overwritten without --force
    assert "already exists" in capsys.readouterr().err
    assert main([*base, "--session-id", "s1", "--force", "--samples", "2"]) == 0
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("s1.replaced-")]
    assert len(aside) == 1 and "moved aside" in capsys.readouterr().out
    assert len((aside[0] / "offline" / "json.jsonl").read_text().splitlines()) == 1  # the old one, kept
    assert len((tmp_path / "s1" / "offline" / "json.jsonl").read_text().splitlines()) == 2
    assert main([*base, "--session-id", "fresh", "--force"]) == 0  # nothing to move: just runs


def test_list_shows_sessions_with_filters_and_json(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["collect", "--categories", "json", "--limit", "1", "--output-dir", str(tmp_path), "--no-progress",
            "--yes"]
    assert main([*base, "--models", "offline", "--session-id", "a"]) == 0
    path = _write(tmp_path, RUN.replace("output_dir: sessions", f"output_dir: {tmp_path}"))
    assert main(["run", str(path), "--no-progress", "--yes"]) == 0
    capsys.readouterr()
    assert main(["list", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "session" in out and "pass %" in out
    line_a = next(line for line in out.splitlines() if line.startswith("a "))
    assert "completed" in line_a and "1/1" in line_a and "100.0" in line_a and "offline" in line_a
    assert main(["list", "--output-dir", str(tmp_path), "--json", "--model", "offline-demo"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["session_id"] for r in rows] == ["demo"] and rows[0]["total"] == 8 and rows[0]["pass_rate"] is None
    assert main(["list", "--output-dir", str(tmp_path), "--json", "--status", "failed"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["list", "--output-dir", str(tmp_path), "--json", "--since", "1h"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert main(["list", "--output-dir", str(tmp_path), "--since", "yesterday-ish"]) == 2
    assert since_time("2026-11-30") < since_time("1d", now=since_time("2026-12-02"))


def test_the_example_run_file_loads_and_documents_every_key():
    example = ROOT / "run.example.yaml"
    run_file = load_run_file(example)
    text = example.read_text()
    keys = [*TOP_LEVEL, "models", "cache", *SECTIONS, *(k for section in SECTIONS.values() for k in section),
            *CACHE_KEYS]
    missing = [key for key in keys if f"{key}:" not in text]
    assert not missing, missing
    inline = [key for key in MODEL_KEYS if key not in text]
    assert not inline, inline
    assert run_file.tables["collection"]["models"] == ["gpt-6-luna", "claude-haiku-5-5", "qwen-local"]


async def test_an_inline_models_timeout_replaces_the_runs(harness, fake):
    from llm_solutions.calls import Caller
    from llm_solutions.limits.pool import LimiterPool
    from llm_solutions.limits.retry import RetryPolicy
    from tests.support.fake_wire import Reply

    row = harness.row("gpt-6-luna", timeout=0.2)
    fake.queue(Reply(delay=2.0), api="openai")
    caller = Caller(LimiterPool(harness.registry), policy=RetryPolicy(max_attempts=1), timeout=60)
    result = await caller.call(harness.model(row), harness.request())
    assert result.error is not None and "no answer within 0.2 s" in str(result.error)


def _problem(task_id: str, category: str = "extra", text: str = "Return the sum of a and b.") -> str:
    return json.dumps({"task_id": task_id, "name": "add", "problem": text,
                       "canonical_solution": "def add(a, b):\n    return a + b\n",
                       "tests": [{"ctx": "", "assertion": "assert add(1, 2) == 3"}],
                       "category": category, "complexity": 1})


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "a.jsonl").write_text(_problem("extra_1") + "\n" + _problem("shared_1") + "\n")
    (second / "b.jsonl").write_text(_problem("more_1", "more") + "\n" + _problem("shared_1") + "\n")
    return first, second


def test_several_dataset_folders_load_together(tmp_path):
    from llm_solutions.dataset import load_dataset
    from llm_solutions.errors import DatasetError

    first, second = _folders(tmp_path)
    dataset = load_dataset([first, second])
    # The same problem in both folders is kept once; categories come from both.
    assert [p.task_id for p in dataset.problems] == ["extra_1", "shared_1", "more_1"]
    assert dataset.categories == ["extra", "more"] and dataset.paths == [first, second]
    assert load_dataset(str(first)).paths == [first]  # one folder, as always
    (second / "b.jsonl").write_text(_problem("shared_1", text="Return the product of a and b.") + "\n")
    with pytest.raises(DatasetError) as error:
        load_dataset([first, second])
    message = str(error.value)
    assert "\n" not in message and "'shared_1'" in message
    assert f"{first / 'a.jsonl'}:2" in message and f"{second / 'b.jsonl'}:1" in message


def test_dataset_folders_from_run_file_environment_and_flags(tmp_path, capsys, monkeypatch):
    import os

    first, second = _folders(tmp_path)
    for datasets in ("{paths: [first, second]}", "{path: [first, second]}", f"{{path: 'first{os.pathsep}second'}}"):
        path = _write(tmp_path, f"models: [offline]\ndatasets: {datasets}\n")
        assert _load(path).dataset_path == [str(first), str(second)]  # relative to the run file
    single = _load(_write(tmp_path, "datasets: {path: first}\n"))
    assert single.dataset_path == str(first)  # one folder stays a string, as sessions store it
    assert CollectionSettings.from_dict({"dataset_path": str(first)}).dataset_path == str(first)
    assert CollectionSettings.from_dict(single.copy(dataset_path=[str(first), str(second)]).to_dict()).dataset_path \
        == [str(first), str(second)]
    both = _write(tmp_path, "datasets:\n  path: first\n  paths: [second]\n")
    with pytest.raises(ConfigError, match=r"run.yaml line 3: datasets.paths: .*already given by datasets.path"):
        load_run_file(both)
    env = {"DATASET_PATH": f"{first}{os.pathsep}{second}"}
    assert CollectionSettings.load({}, env=env).dataset_path == [str(first), str(second)]
    assert CollectionSettings.load({"dataset_path": [str(first)]}, env=env).dataset_path == str(first)
    # The command line: repeated, or several after one --dataset.
    monkeypatch.chdir(tmp_path)
    for flags in (["--dataset", str(first), "--dataset", str(second)], ["--dataset", str(first), str(second)]):
        assert main(["collect", "--models", "offline", *flags, "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert f"dataset: {first} + {second} (3 problems" in out and "selected: 3 problems in 2 categories" in out
    (second / "b.jsonl").write_text(_problem("shared_1", text="Something else entirely.") + "\n")
    assert main(["collect", "--models", "offline", "--dataset", str(first), str(second), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "shared_1" in err and "Traceback" not in err
    assert not (tmp_path / "generated").exists()
