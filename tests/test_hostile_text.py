"""Any text from a model or a test can hold anything: lone surrogates and escape sequences are
stored, cached, written to CSV and printed without crashing a command or losing a record."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from llm_solutions.cli import main
from llm_solutions.collection.rescoring import evaluate_session, rescore_session
from llm_solutions.collection.runner import CollectionRunner
from llm_solutions.collection.session import load_session, resume_runner
from llm_solutions.collection.settings import CollectionSettings
from tests.support.scripted_model import ScriptedModel

SURROGATE = "\ud800"
ESCAPE = "\x1b[2J\x1b]0;owned\x07"
# enum_1 asks for Color; the answer carries a lone surrogate and escape codes in its prose and
# prints one when run (a raw one in the code itself could not even be compiled); enum_2's
# code raises with one in the message.
ANSWER = (f"Here {SURROGATE} you go {ESCAPE}\n```python\nfrom enum import Enum\n\n\nclass Color(Enum):\n"
          "    RED = 1\n    GREEN = 2\n    BLUE = 3\n\n\nprint('\\ud800 \\x1b[31m')\n```\n")
BAD = f"```python\ndef Color():\n    raise ValueError('nope {SURROGATE} \\x1b[2J')\n```"


def model() -> ScriptedModel:
    return ScriptedModel(script={"enum_1": [{"text": ANSWER}], "enum_2": [{"text": BAD}]})


def settings(out: Path, session: str) -> CollectionSettings:
    return CollectionSettings(models=["scripted"], categories=["enum"], output_dir=str(out), session_id=session,
                              model_concurrency=1)


def records(session: Path) -> dict[str, dict]:
    found = {}
    for path in session.glob("*/*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            found[record["task_id"]] = record
    return found


async def test_collect_resume_evaluate_and_rescore_keep_every_character(tmp_path):
    result = await CollectionRunner(settings(tmp_path, "s"), models=[model()], handle_signals=False).run()
    assert result.status == "completed" and result.completed == 5
    got = records(tmp_path / "s")
    assert got["enum_1"]["raw_response"] == ANSWER  # stored and read back unchanged
    assert got["enum_1"]["passed_all"], got["enum_1"]["evaluation"]
    assert SURROGATE in got["enum_1"]["evaluation"]["tests"][0]["stdout"] or "\\ud800" in \
        got["enum_1"]["evaluation"]["tests"][0]["stdout"]
    assert SURROGATE in json.dumps(got["enum_2"]["evaluation"], ensure_ascii=False) or "\\ud800" in \
        json.dumps(got["enum_2"]["evaluation"])
    # Every file of the session is valid UTF-8, the CSV included.
    for path in (tmp_path / "s").rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".json", ".csv"):
            path.read_text(encoding="utf-8")
    with (tmp_path / "s" / "scripted" / "enum.csv").open(encoding="utf-8", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 5
    # The answer was cached: a second session reuses it without asking.
    again = model()
    second = await CollectionRunner(settings(tmp_path, "s2"), models=[again], handle_signals=False).run()
    assert second.status == "completed" and again.calls == []
    assert records(tmp_path / "s2")["enum_1"]["raw_response"] == ANSWER
    # Resume (nothing to do), evaluate and rescore read and rewrite the same records.
    resumed = await resume_runner("s", tmp_path, models=[model()]).run()
    assert resumed.status == "completed"
    await evaluate_session("s", tmp_path)
    rescored = await rescore_session("s", tmp_path, new_session_id="r")
    assert records(rescored)["enum_1"]["raw_response"] == ANSWER
    assert not list((tmp_path / "s").glob(".*.tmp"))
    # The notebook view loads it too: pandas' Arrow text columns hold no lone surrogate, so
    # one reads as the text \ud800, as in the CSV.
    frame = load_session("s", output_dir=tmp_path)
    answer = frame.set_index("task_id").loc["enum_1", "raw_response"]
    assert answer == ANSWER.replace(SURROGATE, "\\ud800")


def test_check_dataset_prints_test_output_without_obeying_it(tmp_path, capsys):
    problem = {"task_id": "x_1", "name": "f", "problem": f"Return 1 {SURROGATE}", "category": "x", "complexity": 1,
               "canonical_solution": "def f():\n    raise ValueError('\\x1b[2J\\x1b]0;owned\\x07 \\ud800')\n",
               "tests": [{"ctx": "", "assertion": "assert f() == 1"}]}
    (tmp_path / "x.jsonl").write_text(json.dumps(problem) + "\n", encoding="utf-8")
    assert main(["check-dataset", "--dataset", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2J" in out and "\\ud800" in out
    assert "x_1: test 0: error: ValueError" in out


def test_a_binary_file_in_a_dataset_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "x.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff binary")
    assert main(["check-dataset", "--dataset", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8 text" in err and "Traceback" not in err


def test_requests_carry_no_lone_surrogates():
    from llm_solutions.models.base import Request

    request = Request(messages=({"role": "user", "content": f"solve {SURROGATE} this"},), max_tokens=10)
    assert request.messages[0]["content"] == "solve \ufffd this"
