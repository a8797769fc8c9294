"""Export for fine-tuning, checked with each format's consumer: a session collected from the
fake providers (two models through their real SDKs, answers that pass and fail the
sandboxed tests, a credential in one answer) exported in every format, then loaded with
``datasets`` and checked against the shapes TRL and the fine-tuning services document."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from llm_solutions.cli import main
from llm_solutions.collection.runner import CollectionRunner
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.dataset import BUILTIN_DATASET, load_dataset
from llm_solutions.export import ExportFilters, export_sessions, get_training_data
from tests.support.fake_providers import FakeProviders
from tests.support.fake_wire import Reply

datasets = pytest.importorskip("datasets")

SECRET = "sk-ant-api03-" + "Q" * 40
MODELS = ["gpt-6-luna", "claude-haiku-5-5"]


def _wrong(name: str, api: str) -> str:
    value = "None" if api == "openai" else "0"
    return f"class {name}:\n    pass\n" if name[:1].isupper() else f"def {name}(*args, **kwargs):\n    return {value}\n"


def _responder():
    """Per model (API) and problem: the first answer is the canonical solution (the same
    text from both models, so one is a duplicate); the second, different per model, fails
    the tests on even problems and passes, reworded, on odd ones.  gpt's first json_1
    answer leaks a key."""
    solutions = {p.name: p for p in load_dataset(BUILTIN_DATASET).problems if p.category == "json"}
    calls: dict[tuple[str, str], int] = {}

    def reply(api: str, body) -> Reply:
        name = re.search(r"Define `(\w+)`", json.dumps(body)).group(1)
        problem = solutions[name]
        n = calls[(api, name)] = calls.get((api, name), 0) + 1
        index = int(problem.task_id.rsplit("_", 1)[1])
        if n == 1:
            code = problem.canonical_solution
            prose = f"Here it is (my key {SECRET})." if api == "openai" and index == 1 else "Here it is."
        elif index % 2 == 0:
            code, prose = _wrong(name, api), "A first sketch."
        else:
            code, prose = f"MADE_BY = {api!r}\n" + problem.canonical_solution, "Another way."
        return Reply(text=f"{prose}\n\n```python\n{code}```\n", reasoning=f"Thinking about {name}.")

    return reply


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sessions")

    async def collect() -> None:
        async with FakeProviders() as fake:
            fake.responder = _responder()
            with pytest.MonkeyPatch.context() as patch:
                for name, value in {**fake.base_url_env(), **fake.key_env()}.items():
                    patch.setenv(name, value)
                settings = CollectionSettings(models=MODELS, categories=["json"], samples=2, output_dir=str(out),
                                              session_id="mixed", model_concurrency=1, cache={"enabled": False})
                result = await CollectionRunner(settings, handle_signals=False).run()
                assert result.status == "completed" and result.completed == 20

    asyncio.run(collect())
    return out / "mixed"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def all_text(folder: Path) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


def test_records_keep_the_messages_sent_once_per_session(session):
    raw = lines(session / "gpt-6-luna" / "json.jsonl")
    assert {r["schema_version"] for r in raw} == {"2.0"} and all("messages" not in r for r in raw)
    table = lines(session / "prompts.jsonl")
    assert len(table) == 5  # five problems; both models and both samples share each prompt
    assert {r["prompt_id"] for r in raw} == {t["prompt_id"] for t in table}
    first = raw[0]
    assert first["requested_model"] == "gpt-6-luna" and first["request"]["max_tokens"] > 0
    assert first["billed_attempts"] == 1 and first["served_model"]
    claude = lines(session / "claude-haiku-5-5" / "json.jsonl")[0]  # Anthropic returns its thinking apart
    assert claude["reasoning"].startswith("Thinking about") and "Thinking" not in claude["raw_response"]


def test_chat_and_sft_rows_alternate_roles_and_hold_passing_answers_only(session, tmp_path):
    result = export_sessions([session], "chat", tmp_path / "chat", filters=ExportFilters(val_fraction=0.4, seed=3))
    counts = result.counts
    # passing answers: 5 canonical per model (the second model's are duplicates) + 2 reworded
    # per model on odd problems (json_1, json_3, json_5) = 5 + 6
    assert counts["records"] == 20 and counts["selected"] == 16 and counts["duplicates_dropped"] == 5
    assert counts["skipped_below_min_tests_passed"] == 4
    assert counts["train_rows"] + counts["validation_rows"] == 11
    rows = lines(tmp_path / "chat" / "train.jsonl") + lines(tmp_path / "chat" / "validation.jsonl")
    for row in rows:
        assert list(row) == ["messages"]
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert row["messages"][-1]["content"].startswith("```python\n")
    assert all("A first sketch" not in json.dumps(r) for r in rows)

    sft = export_sessions([session], "trl-sft", tmp_path / "sft", filters=ExportFilters(val_fraction=0.4, seed=3))
    loaded = datasets.load_dataset("json", data_files={"train": str(sft.path / "train.jsonl"),
                                                       "validation": str(sft.path / "validation.jsonl")})
    assert loaded["train"].column_names == ["messages"]  # TRL's conversational language-modeling type
    assert loaded["train"].num_rows + loaded["validation"].num_rows == 11
    message = loaded["train"][0]["messages"][0]
    assert set(message) == {"role", "content"}


def test_split_by_problem_and_reproducible_bytes(session, tmp_path):
    filters = ExportFilters(val_fraction=0.4, seed=7)
    first = export_sessions([session], "hf", tmp_path / "hf", filters=filters)
    files = {name: (first.path / name).read_bytes() for name in first.manifest["files"]}
    again = export_sessions([session], "hf", tmp_path / "hf", filters=filters, force=True)
    assert again.manifest == first.manifest
    assert {name: (again.path / name).read_bytes() for name in again.manifest["files"]} == files
    on_disk = datasets.load_from_disk(str(first.path / "hf"))
    train, validation = set(on_disk["train"]["task_id"]), set(on_disk["validation"]["task_id"])
    assert train and validation and not train & validation and len(train | validation) == 5
    assert first.counts["validation_problems"] == 2  # 40% of 5 problems
    for column in ("messages", "model", "category", "complexity", "tests_passed", "cost", "session"):
        assert column in on_disk["train"].column_names
    assert set(on_disk["train"]["session"]) == {"mixed"} and all(on_disk["train"]["passed_all"])
    parquet = datasets.load_dataset("parquet", data_dir=str(first.path / "data"))
    assert parquet["train"].num_rows == on_disk["train"].num_rows
    assert datasets.load_dataset(str(first.path))["validation"].num_rows == on_disk["validation"].num_rows
    manifest = json.loads((first.path / "export_manifest.json").read_text())
    assert manifest["sessions"][0]["session"] == "mixed" and manifest["filters"]["seed"] == 7
    card = (first.path / "README.md").read_text()
    assert "gpt-6-luna" in card and "Licence note" in card and "- split: validation" in card
    other_seed = export_sessions([session], "chat", tmp_path / "seed8", filters=ExportFilters(val_fraction=0.4, seed=8))
    assert other_seed.counts["validation_problems"] == 2


def test_dpo_pairs_pass_against_fail_never_the_same_text(session, tmp_path):
    result = export_sessions([session], "trl-dpo", tmp_path / "dpo")
    rows = lines(tmp_path / "dpo" / "train.jsonl")
    # json_2 and json_4 have one passing text (both models wrote it) and two failing ones:
    # one pair each, as a text is never used twice
    assert len(rows) == result.counts["train_rows"] == 2
    for row in rows:
        assert list(row) == ["prompt", "chosen", "rejected"]
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        assert [m["role"] for m in row["chosen"]] == [m["role"] for m in row["rejected"]] == ["assistant"]
        assert row["chosen"] != row["rejected"]
        stubs = {f"```python\n{_wrong(n, api).strip()}\n```" for n in ("pretty_json", "TypedJSON")
                 for api in ("openai", "anthropic")}
        assert row["rejected"][0]["content"] in stubs
    assert len({json.dumps(r["prompt"]) for r in rows}) == 2

    same = export_sessions([session], "hf", tmp_path / "dpo_hf", kind="dpo",
                           filters=ExportFilters(pairs="same-model"))
    pairs = datasets.load_from_disk(str(same.path / "hf"))["train"]
    assert pairs.num_rows == 2 and pairs["chosen_model"] == pairs["rejected_model"]
    strings = export_sessions([session], "hf", tmp_path / "dpo_hf_standard", kind="dpo", style="standard")
    assert isinstance(datasets.load_from_disk(str(strings.path / "hf"))["train"][0]["chosen"], str)
    cross = get_training_data([session], "trl-dpo", pairs="cross-model")
    standard = get_training_data([session], "trl-dpo", style="standard")
    assert len(cross) == 2 and all(cross["split"] == "train")
    assert isinstance(standard["prompt"][0], str) and isinstance(standard["chosen"][0], str)


def test_sharegpt_alpaca_reasoning_and_redaction(session, tmp_path):
    share = export_sessions([session], "sharegpt", tmp_path / "share",
                            filters=ExportFilters(target="answer", include_reasoning=True))
    rows = lines(share.path / "train.jsonl")
    assert [c["from"] for c in rows[0]["conversations"]] == ["system", "human", "gpt"]
    answers = [r["conversations"][-1]["value"] for r in rows]
    assert any(a.startswith("<think>\nThinking about") for a in answers)
    assert share.counts["redactions"] >= 1
    alpaca = export_sessions([session], "alpaca", tmp_path / "alpaca")
    row = lines(alpaca.path / "train.jsonl")[0]
    assert set(row) == {"instruction", "input", "output", "system"} and "Solve" in row["instruction"]
    for folder in (share.path, alpaca.path):
        assert SECRET not in all_text(folder)
    assert "my key [REDACTED]" in all_text(share.path)


def test_training_data_in_a_notebook(session):
    import llm_solutions as ls

    frame = ls.get_training_data([session], "hf", val_fraction=0.4)
    assert {"messages", "model", "split", "tests_passed"} <= set(frame.columns) and len(frame) == 11
    assert set(frame.groupby("task_id")["split"].nunique()) == {1}
    dataset = get_training_data([session], "chat", as_dataset=True, models=["claude-haiku-5-5"])
    assert dataset.column_names == ["messages", "split"] and dataset.num_rows == 8
    with pytest.raises(Exception, match="unknown filter"):
        get_training_data([session], "chat", model="x")


def test_bad_input_is_one_line_and_writes_nothing(session, tmp_path, capsys):
    out = tmp_path / "out"
    base = [str(session), "--out", str(out)]
    cases = [
        (["export", *base, "--format", "csv"], "invalid choice"),
        (["export", "no_such_session", "--output-dir", str(tmp_path), "--format", "chat", "--out", str(out)],
         "not found"),
        (["export", *base, "--format", "chat", "--models", "gpt-9"], "not in these sessions"),
        (["export", *base, "--format", "chat", "--categories", "json", "--complexity", "1", "--min-tests-passed",
          "1", "--models", "claude-haiku-5-5", "--target", "code", "--val-fraction", "1.5"], "val_fraction"),
        (["export", *base, "--format", "trl-dpo", "--complexity", "1"], "no preference pair"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
        assert not out.exists() and not list(tmp_path.glob(".out*"))
    out.mkdir()
    assert main(["export", *base, "--format", "chat"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export", *base, "--format", "chat", "--force"]) == 0
    assert "exported" in capsys.readouterr().out and (out / "train.jsonl").exists()
