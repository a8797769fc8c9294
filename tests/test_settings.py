"""Settings: one precedence rule (defaults < config file < environment < command line or
code), one validation for code and command line, old names as aliases, one-line errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from llm_solutions.cli import main
from llm_solutions.collection.runner import CollectionRunner
from llm_solutions.collection.session import resume_runner
from llm_solutions.collection.settings import CollectionSettings, resolve_setting
from llm_solutions.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in ("CHECKPOINT_EVERY", "BATCH_SIZE", "MODEL_CONCURRENCY", "MAX_CONCURRENT_PER_MODEL", "DATASET_PATH",
                 "OUTPUT_DIR", "LLM_SOLUTIONS_MODELS_FILE", "LLM_SOLUTIONS_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("values", "flags"),
    [
        ({"samples": 0}, ["--samples", "0"]),
        ({"checkpoint_every": -3}, ["--checkpoint-every", "-3"]),
        ({"max_cost": -1.0}, ["--max-cost", "-1"]),
        ({"request_timeout": 0.0}, ["--request-timeout", "0"]),
        ({"rpm": 0}, ["--rpm", "0"]),
    ],
)
def test_notebook_settings_raise_the_error_the_command_line_prints(values, flags, capsys):
    with pytest.raises(ConfigError) as caught:
        CollectionSettings(models=["offline"], **values)
    assert main(["collect", "--models", "offline", "--dry-run", *flags]) == 2
    assert capsys.readouterr().err == f"error: {caught.value}\n"
    assert "\n" not in str(caught.value) and "--" in str(caught.value)


def test_unknown_names_get_the_closest_suggested():
    with pytest.raises(ConfigError, match="unknown collection setting 'sample'; did you mean 'samples'"):
        CollectionSettings(models=["offline"], sample=3)


def test_old_names_are_aliases_in_code_and_stored_sessions():
    settings = CollectionSettings(models=["offline"], batch_size=7, max_concurrent_per_model=2, max_concurrent=9)
    assert (settings.checkpoint_every, settings.model_concurrency, settings.provider_concurrency) == (7, 2, 9)
    assert "batch_size" not in settings.to_dict()
    stored = {"models": ["offline"], "batch_size": 4, "max_concurrent_per_model": 5, "from_the_future": 1}
    old = CollectionSettings.from_dict(stored)
    assert (old.checkpoint_every, old.model_concurrency) == (4, 5)


def test_precedence_defaults_file_environment_given(tmp_path, monkeypatch):
    config = tmp_path / "llm.toml"
    config.write_text("[collection]\nsamples = 2\ncheckpoint_every = 20\nmodel_concurrency = 4\n\n"
                      "[cache]\nttl_seconds = \"7d\"\n")
    monkeypatch.setenv("LLM_SOLUTIONS_CONFIG", str(config))
    assert CollectionSettings.load().samples == 2  # file over default
    monkeypatch.setenv("BATCH_SIZE", "30")  # the old variable name still works
    monkeypatch.setenv("MODEL_CONCURRENCY", "6")
    loaded = CollectionSettings.load({"samples": 3, "model_concurrency": None})
    assert (loaded.samples, loaded.checkpoint_every, loaded.model_concurrency) == (3, 30, 6)
    monkeypatch.setenv("CHECKPOINT_EVERY", "40")  # the new name wins over the old one
    assert CollectionSettings.load().checkpoint_every == 40
    assert CollectionSettings.load({"checkpoint_every": 50}).checkpoint_every == 50


def test_a_bad_value_below_a_given_one_is_never_read(monkeypatch):
    monkeypatch.setenv("BATCH_SIZE", "lots")
    assert CollectionSettings.load({"checkpoint_every": 5}).checkpoint_every == 5
    with pytest.raises(ConfigError, match=r"^BATCH_SIZE='lots' is not valid; use a whole number of at least 1$"):
        CollectionSettings.load()


def test_config_file_errors_name_the_file_the_line_and_the_closest_key(tmp_path, monkeypatch):
    config = tmp_path / "llm.toml"
    config.write_text("# run settings\n[collection]\nsamples = 2\nsampels = 3\n")
    monkeypatch.setenv("LLM_SOLUTIONS_CONFIG", str(config))
    with pytest.raises(ConfigError) as caught:
        CollectionSettings.load()
    assert str(caught.value) == (f"{config} line 4: [collection] sampels: unknown collection setting 'sampels'; "
                                 "did you mean 'samples'?")
    config.write_text("[colection]\nsamples = 2\n")
    with pytest.raises(ConfigError, match=r"line 1: unknown table \[colection\]; did you mean 'collection'"):
        CollectionSettings.load()
    config.write_text("[collection]\nsamples = 0\n")
    with pytest.raises(ConfigError, match=r"line 2: \[collection\] samples=0 is not valid"):
        CollectionSettings.load()


def test_environment_read_once_and_resume_keeps_the_sessions_own_files(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "from-env"))
    assert resolve_setting("output_dir") == str(tmp_path / "from-env")
    assert resolve_setting("output_dir", "given") == "given"
    # The settings keep the models file and dataset absolute, and a resume uses them,
    # whatever the environment says later.
    models_file = tmp_path / "models.toml"
    models_file.write_text('[[models]]\nname = "mine"\nprovider = "offline"\n')
    settings = CollectionSettings(models=["mine"], categories=["json"], quick_test=True, output_dir=str(tmp_path),
                                  session_id="s", models_file=str(models_file), execute=False)
    result = asyncio.run(CollectionRunner(settings, handle_signals=False).run())
    assert result.status == "completed"
    other = tmp_path / "other.toml"
    other.write_text('[[models]]\nname = "mine"\nprovider = "nonexistent"\n')
    monkeypatch.setenv("LLM_SOLUTIONS_MODELS_FILE", str(other))
    monkeypatch.setenv("DATASET_PATH", str(tmp_path / "missing"))
    runner = resume_runner("s", tmp_path, retry_failed=True)
    assert runner.settings.models_file == str(models_file) and runner.settings.dataset_path is None
    assert asyncio.run(runner.run()).status == "completed"


def test_run_does_not_change_the_callers_settings_and_checks_them_again(tmp_path):
    settings = CollectionSettings(models=["offline"], categories=["json"], quick_test=True, output_dir=str(tmp_path),
                                  execute=False)
    result = asyncio.run(CollectionRunner(settings, handle_signals=False).run())
    assert result.status == "completed" and settings.session_id is None
    stored = json.loads((result.path / "summary.json").read_text())["collection_metadata"]["session_parameters"]
    assert stored["session_id"] == result.session_id and stored["checkpoint_every"] == 10
    settings.samples = 0  # changed after it was made: checked again before anything runs
    with pytest.raises(ConfigError, match="samples=0"):
        asyncio.run(CollectionRunner(settings, handle_signals=False).run())
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == sorted([result.session_id, "cache.sqlite3"])


def test_new_flag_names_and_old_ones(tmp_path, capsys):
    for flags in (["--checkpoint-every", "3"], ["--batch-size", "3"]):
        out = tmp_path / flags[0].strip("-")
        assert main(["collect", "--models", "offline", "--categories", "json", "--quick-test", "--no-execute",
                     "--no-progress", "--output-dir", str(out), "--session-id", "s", *flags]) == 0
        parameters = json.loads((out / "s" / "progress.json").read_text())["session_parameters"]
        assert parameters["checkpoint_every"] == 3
    assert main(["collect", "--models", "offline", "--max-concurrent", "2", "--model-concurrency", "5",
                 "--categories", "json", "--quick-test", "--no-execute", "--no-progress", "--output-dir",
                 str(tmp_path / "c"), "--session-id", "s"]) == 0
    parameters = json.loads((tmp_path / "c" / "s" / "progress.json").read_text())["session_parameters"]
    assert (parameters["model_concurrency"], parameters["provider_concurrency"]) == (5, 2)
