"""Extending the collector without editing it: an installed plugin's provider and models
appear in ``--list-models`` and collect; the LLM extraction model is used, counted and
billed separately, and falls back to the rules when it has no key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from llm_solutions.collection.runner import CollectionRunner
from llm_solutions.collection.settings import CollectionSettings
from tests.support.fake_providers import FakeProviders
from tests.support.scripted_model import ScriptedModel

ROOT = Path(__file__).resolve().parent.parent
GUARDED_SITE = ROOT / "tests" / "support" / "guarded_site"

PLUGIN = '''
from llm_solutions.models.base import BaseModel, Completion
from llm_solutions.models.config import ModelConfig, ProviderConfig


class TinyModel(BaseModel):
    provider = "tiny"

    async def generate(self, request):
        code = request.metadata["canonical_solution"]
        return Completion(text=f"```python\\n{code}\\n```", input_tokens=10, output_tokens=20)


def rows():
    provider = ProviderConfig(name="tiny", model_class="tiny_plugin:TinyModel", key_required=False)
    model = ModelConfig(name="tiny-1", provider="tiny", model_params={"api_model": "tiny-1"},
                        input_price=1.0, output_price=1.0)
    return [provider], [model]
'''


def install_plugin(site: Path) -> None:
    """Lay the plugin out exactly as an installer does: module plus dist-info with entry points."""
    site.mkdir()
    (site / "tiny_plugin.py").write_text(PLUGIN)
    info = site / "tiny_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[llm_solutions.providers]\ntiny = tiny_plugin:rows\n")
    (info / "RECORD").write_text("")


def run_script(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(GUARDED_SITE), str(site), str(ROOT)]),
               LLM_SOLUTIONS_NO_DOTENV="1")
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "run_collection.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_installed_plugin_is_listed_and_collects(tmp_path):
    site = tmp_path / "site"
    install_plugin(site)
    listed = run_script(site, "--list-models")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("tiny-1"))
    assert "tiny" in row and "✓" in row

    out = tmp_path / "generated"
    done = run_script(site, "--models", "tiny-1", "--categories", "enum", "--quick-test", "--no-progress",
                      "--no-execute", "--output-dir", str(out), "--session-id", "p")
    assert done.returncode == 0, done.stderr
    [record] = [json.loads(line) for line in (out / "p" / "tiny-1" / "enum.jsonl").read_text().splitlines()]
    assert record["validation"]["is_fully_valid"] and record["cost"] == 0.00003


async def test_extraction_model_is_used_for_unclear_answers_and_billed_separately(tmp_path, monkeypatch):
    async with FakeProviders() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "fake-key")
        answers = ScriptedModel(script={"enum_1": [{"text": "class Weekday(Enum): MONDAY = 1 ... (sketch only)"}]})
        settings = CollectionSettings(models=["scripted"], categories=["enum"], output_dir=str(tmp_path),
                                      session_id="x", execute=False, extraction_model="gpt-6-luna",
                                      cache={"enabled": False})
        await CollectionRunner(settings, models=[answers], handle_signals=False).run()
        assert len(fake.of("openai")) == 1  # only the unclear answer went to the extractor
    summary = json.loads((tmp_path / "x" / "summary.json").read_text())
    stats = summary["collection_metadata"]["llm_extraction"]
    assert stats["calls"] == 1 and stats["cost"] > 0 and stats["model"] == "gpt-6-luna"
    assert summary["collection_metadata"]["total_cost"] > 0  # the answers' own cost, apart from it


async def test_extraction_model_without_key_falls_back_and_says_so(tmp_path, caplog):
    settings = CollectionSettings(models=["scripted"], categories=["enum"], output_dir=str(tmp_path),
                                  session_id="y", execute=False, extraction_model="gpt-6-luna")
    result = await CollectionRunner(settings, models=[ScriptedModel()], handle_signals=False).run()
    assert result.status == "completed"
    warnings = [r.getMessage() for r in caplog.records if "extraction model" in r.getMessage()]
    assert len(warnings) == 1 and "OPENAI_API_KEY is not set" in warnings[0]
    summary = json.loads((tmp_path / "y" / "summary.json").read_text())
    assert "llm_extraction" not in summary["collection_metadata"]

