"""Image problems: loading (paths and data URLs), the image parts each SDK puts on the wire
against the local fake server, the cache key and token estimate, the plan-time check of
text-only models, and the built-in image category answered end to end by the offline model."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from llm_solutions.cache.key import cache_key
from llm_solutions.cli import main
from llm_solutions.collection.plan import fit_image_support
from llm_solutions.collection.tasks import build_request, estimate_usage
from llm_solutions.dataset import BUILTIN_DATASET, load_dataset
from llm_solutions.errors import ConfigError, DatasetError
from llm_solutions.models.base import image_digest
from llm_solutions.models.tokens import image_size, image_tokens, prompt_tokens, request_prompt_tokens
from tests.support.drawing import BUILTIN_IMAGES, IMAGES_DIR, cell_grid, color_strip
from tests.support.provider_harness import fake, harness  # noqa: F401  (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

PNG = color_strip(["red", "blue"])
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def _problem(task_id: str, images: list[str] | None, **more):
    row = {"task_id": task_id, "name": "f", "problem": "Write f() returning 1.", "canonical_solution":
           "def f():\n    return 1\n", "tests": [{"ctx": "", "assertion": "assert f() == 1"}],
           "category": "pictures", "complexity": 1, **more}
    if images is not None:
        row["images"] = images
    return row


def _dataset(tmp_path, *rows):
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    (folder / "pictures.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_shipped_pictures_are_what_the_drawing_code_draws():
    for name, draw in BUILTIN_IMAGES.items():
        assert (IMAGES_DIR / name).read_bytes() == draw(), name


def test_images_load_from_paths_relative_to_the_jsonl_and_from_data_urls(tmp_path):
    folder = _dataset(tmp_path, _problem("p1", ["figs/grid.png"]), _problem("p2", [PNG_URL]), _problem("p3", None))
    (folder / "figs").mkdir()
    (folder / "figs" / "grid.png").write_bytes(cell_grid(["10", "01"]))
    problems = {p.task_id: p for p in load_dataset(folder).problems}
    assert problems["p1"].images[0].startswith("data:image/png;base64,")
    assert base64.b64decode(problems["p1"].images[0].split(",", 1)[1]) == cell_grid(["10", "01"])
    assert problems["p2"].images == (PNG_URL,)
    assert problems["p3"].images == () and "images" not in problems["p3"].to_dict()


@pytest.mark.parametrize("images,needle", [
    (["missing.png"], "does not exist"),
    (["data:image/png;base64,!!!"], "does not decode"),
    ([123], "'images' must be a list"),
    ("one.png", "'images' must be a list"),
])
def test_a_bad_image_is_a_dataset_line_error(tmp_path, images, needle):
    folder = _dataset(tmp_path, _problem("p1", images))
    with pytest.raises(DatasetError) as caught:
        load_dataset(folder)
    assert "pictures.jsonl:1" in str(caught.value) and needle in str(caught.value)


def test_a_file_that_is_no_image_is_refused(tmp_path):
    folder = _dataset(tmp_path, _problem("p1", ["notes.png"]))
    (folder / "notes.png").write_text("not an image")
    with pytest.raises(DatasetError, match="is not a PNG, JPEG, GIF or WebP image"):
        load_dataset(folder)


def test_images_enter_the_cache_key_by_content_and_the_token_estimate():
    from llm_solutions.models.registry import load_registry

    dataset = load_dataset()
    [problem] = [p for p in dataset.problems if p.task_id == "image_3"]
    row = load_registry().get("gpt-6-luna")
    request = build_request(row, problem, 0)
    assert request.images == problem.images
    text_only = dataclasses.replace(request, images=())
    assert request_prompt_tokens(text_only) == prompt_tokens(request.messages)
    assert image_size(request.images[0]) == (6 * 24 + 1, 6 * 24 + 1)
    assert image_tokens(request.images[0]) == 85  # a small picture costs the floor
    assert request_prompt_tokens(request) == prompt_tokens(request.messages) + 85
    assert estimate_usage(row, problem)[0] == request_prompt_tokens(request)
    other = dataclasses.replace(request, images=(PNG_URL,))
    same_bytes = dataclasses.replace(request, images=tuple(request.images))
    assert cache_key(row, request, 0) != cache_key(row, other, 0)
    assert cache_key(row, request, 0) == cache_key(row, same_bytes, 0)
    assert cache_key(row, request, 0) != cache_key(row, text_only, 0)
    assert "images" not in text_only.to_dict()  # text requests keep the keys they had
    assert request.to_dict()["images"] == [image_digest(request.images[0])]


def test_a_text_only_model_is_refused_at_plan_time_naming_model_and_problem():
    from llm_solutions.models.registry import load_registry

    registry = load_registry()
    problems = load_dataset().select(["image", "json"])
    blind, seeing = registry.get("llama-3.3-70b"), registry.get("gpt-6-luna")
    with pytest.raises(ConfigError) as caught:
        fit_image_support(problems, [seeing, blind], skip=False)
    assert "image_1" in str(caught.value) and "llama-3.3-70b" in str(caught.value)
    kept = fit_image_support(problems, [seeing, blind], skip=True)
    assert kept and not any(p.images for p in kept)
    assert fit_image_support(problems, [seeing], skip=False) == problems


def test_collect_with_a_text_only_model_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOGETHER_API_KEY", "fake")
    code = main(["collect", "--models", "llama-3.3-70b", "--categories", "image", "--output-dir",
                 str(tmp_path / "out"), "--dry-run"])
    assert code == 2
    err = capsys.readouterr().err
    assert "llama-3.3-70b does not accept images" in err and "image_1" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


async def test_openai_sends_image_url_parts(harness, fake):
    model = harness.model("gpt-6-luna")
    await model.generate(harness.request(images=(PNG_URL,)))
    [user] = [m for m in fake.requests[-1].body["messages"] if m["role"] == "user"]
    assert user["content"][0] == {"type": "image_url", "image_url": {"url": PNG_URL}}
    assert user["content"][-1] == {"type": "text", "text": "Write solve(x) that returns x."}
    system = fake.requests[-1].body["messages"][0]
    assert system["role"] in ("system", "developer") and isinstance(system["content"], str)


async def test_openai_compatible_sends_the_same_parts(harness, fake):
    model = harness.model("llama-4-maverick")
    await model.generate(harness.request(images=(PNG_URL, PNG_URL)))
    [user] = [m for m in fake.requests[-1].body["messages"] if m["role"] == "user"]
    assert [p["type"] for p in user["content"]] == ["image_url", "image_url", "text"]
    assert fake.requests[-1].flavor == "together"


async def test_anthropic_sends_base64_image_blocks(harness, fake):
    model = harness.model("claude-haiku-5-5")
    await model.generate(harness.request(images=(PNG_URL,)))
    body = fake.requests[-1].body
    [block, text] = body["messages"][-1]["content"]
    assert block == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                 "data": PNG_URL.split(",", 1)[1]}}
    assert text == {"type": "text", "text": "Write solve(x) that returns x."}
    assert body["system"] == "You write Python."


async def test_gemini_sends_inline_data_parts(harness, fake):
    model = harness.model("gemini-3.5-flash-lite")
    await model.generate(harness.request(images=(PNG_URL,)))
    parts = fake.requests[-1].body["contents"][-1]["parts"]
    assert parts[0]["inlineData"]["mimeType"] == "image/png"
    # The SDK sends bytes as URL-safe base64, which the API accepts.
    assert base64.urlsafe_b64decode(parts[0]["inlineData"]["data"]) == PNG
    assert parts[-1] == {"text": "Write solve(x) that returns x."}


def test_the_offline_model_answers_the_builtin_image_category(tmp_path, capsys):
    code = main(["collect", "--models", "offline", "--categories", "image", "--output-dir", str(tmp_path),
                 "--session-id", "pictures", "--no-progress", "--yes"])
    assert code == 0, capsys.readouterr().err
    records = [json.loads(line) for line in (tmp_path / "pictures" / "offline" / "image.jsonl").open()]
    assert len(records) == 5 and all(r["passed_all"] for r in records)
    assert BUILTIN_DATASET.joinpath("images", "bar_chart.png").exists()
