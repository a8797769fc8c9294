"""Dataset loading: every kind of bad line is reported as file:line: reason."""

from __future__ import annotations

import json

import pytest

from llm_solutions.cli import main
from llm_solutions.dataset import BUILTIN_DATASET, load_dataset
from llm_solutions.errors import DatasetError

GOOD = {
    "task_id": "t_1", "name": "add", "problem": "Write add(a, b).", "canonical_solution": "def add(a, b):\n    return a + b\n",
    "tests": json.dumps([{"ctx": "", "assertion": "assert add(1, 2) == 3"}]), "category": "math", "complexity": 1,
    "object": "function",
}


def write(tmp_path, *lines):
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_good_line_loads_with_tests_as_string_or_list(tmp_path):
    as_list = dict(GOOD, task_id="t_2", tests=[{"ctx": "x = 1", "assertion": "assert add(x, 1) == 2"}])
    write(tmp_path, json.dumps(GOOD), json.dumps(as_list))
    dataset = load_dataset(tmp_path)
    assert [p.task_id for p in dataset.problems] == ["t_1", "t_2"]
    assert dataset.problems[1].tests[0].ctx == "x = 1"
    assert dataset.categories == ["math"]


@pytest.mark.parametrize("line, reason", [
    ("{not json", "malformed JSON"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "name"}), "missing field name"),
    (json.dumps(dict(GOOD, complexity="2")), "field 'complexity' has the wrong type"),
    (json.dumps(dict(GOOD, tests="[oops")), "'tests' is a string but not valid JSON"),
    (json.dumps(dict(GOOD, tests=[])), "non-empty list"),
    (json.dumps(dict(GOOD, tests=[{"ctx": ""}])), "needs an 'assertion'"),
    (json.dumps([1, 2]), "expected a JSON object"),
])
def test_bad_line_is_reported_with_file_and_line(tmp_path, line, reason):
    path = write(tmp_path, json.dumps(GOOD), line)
    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path)
    assert caught.value.problems == [f"{path}:2: " + caught.value.problems[0].split(":2: ", 1)[1]]
    assert reason in caught.value.problems[0]


def test_duplicate_task_id_names_both_places(tmp_path):
    path = write(tmp_path, json.dumps(GOOD), json.dumps(GOOD))
    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path)
    assert caught.value.problems == [f"{path}:2: duplicate task_id 't_1' (first at {path}:1)"]


def test_skip_invalid_keeps_good_lines(tmp_path):
    write(tmp_path, json.dumps(GOOD), "{bad", "", json.dumps(dict(GOOD, task_id="t_3")))
    dataset = load_dataset(tmp_path, skip_invalid=True)
    assert [p.task_id for p in dataset.problems] == ["t_1", "t_3"]
    assert len(dataset.skipped) == 1 and ":2: malformed JSON" in dataset.skipped[0]


def test_missing_and_empty_dataset_dirs(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no \\*.jsonl files"):
        load_dataset(tmp_path)


def test_unknown_category_lists_the_real_ones(tmp_path):
    write(tmp_path, json.dumps(GOOD))
    with pytest.raises(DatasetError, match="unknown category typo.*available: math"):
        load_dataset(tmp_path).select(["typo"])


def test_cli_refuses_bad_dataset_with_one_line_per_problem(tmp_path, capsys):
    path = write(tmp_path, json.dumps(GOOD), "{bad")
    code = main(["collect", "--models", "offline", "--dataset", str(tmp_path), "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}:2: malformed JSON" in err
    assert "Traceback" not in err
    assert main(["collect", "--models", "offline", "--dataset", str(tmp_path), "--dry-run", "--skip-invalid"]) == 0


def test_builtin_dataset_is_the_default(monkeypatch):
    monkeypatch.delenv("DATASET_PATH", raising=False)
    dataset = load_dataset()
    assert dataset.path == BUILTIN_DATASET
    assert len(dataset.categories) == 25  # 24 text categories and the image category
