"""The HTML report, rendered in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium): it loads with no console error and nothing fetched,
every plot decodes and is not blank in light and dark, the headline numbers equal pandas'
on the records, and hostile answers come out as text.

Without Chromium the browser test is skipped, unless ``LLM_SOLUTIONS_REQUIRE_BROWSER=1``
(set by ``.ci/run``, which installs it), where it fails.  With
``LLM_SOLUTIONS_WRITE_SCREENSHOT=docs/report.png`` it also saves the README's screenshot.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from llm_solutions.cli import main
from tests.test_statistics import MODELS, expected_models, sessions  # noqa: F401 - the shared fixture

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _browser_required() -> bool:
    return os.environ.get("LLM_SOLUTIONS_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def browser():
    missing = [name for name, found in (("chromium", CHROMIUM), ("chromedriver", DRIVER)) if not found]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium")
    if missing:
        reason = f"{', '.join(missing)} not installed (see .ci/install-chromium)"
        if _browser_required():
            pytest.fail(f"{reason}; LLM_SOLUTIONS_REQUIRE_BROWSER=1 expects them")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000", "--hide-scrollbars", "--force-device-scale-factor=1",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _png_pixels(data: bytes):
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def _not_blank(image) -> bool:
    extrema = image.getextrema()
    return any(high - low > 40 for low, high in extrema)


@pytest.fixture(scope="module")
def report_path(sessions, tmp_path_factory):  # noqa: F811 - the fixture above
    before, after = sessions
    out = tmp_path_factory.mktemp("page") / "report.html"
    assert main(["report", str(before), str(after), "--out", str(out)]) == 0
    return out


def test_report_command_prints_the_path_and_writes_one_file(sessions, capsys, tmp_path):  # noqa: F811
    before, _ = sessions
    assert main(["report", "before", "--output-dir", str(before.parent)]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(before / "report.html") and (before / "report.html").is_file()
    assert main(["report", str(before), "--out", str(tmp_path)]) == 2  # a folder, not a file
    assert "is a folder" in capsys.readouterr().err


class _Balance(HTMLParser):
    """Checks that every element is closed in order (the page is well formed)."""

    VOID = frozenset({"meta", "img", "source", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def test_page_is_self_contained_and_escaped(report_path):
    text = report_path.read_text(encoding="utf-8")
    balance = _Balance()
    balance.feed(text)
    assert balance.errors == [] and balance.stack == []
    assert "<script" not in text.lower().replace("&lt;script", "")
    assert not re.search(r"""(src|href|srcset)=["']?(https?:)?//""", text)
    assert "@import" not in text and "url(" not in text
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in text
    assert "\\x1b[2J" in text and "\\ud800" in text and "\x1b" not in text
    # Every embedded image decodes and is not blank, in both themes.
    pairs = re.findall(r'srcset="data:image/png;base64,([A-Za-z0-9+/=]+)"><img class="plot" '
                       r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(pairs) == text.count("<figure") >= 6
    for dark, light in pairs:
        for data, background in ((dark, (13, 17, 23)), (light, (255, 255, 255))):
            image = _png_pixels(base64.b64decode(data))
            assert _not_blank(image) and image.getpixel((0, 0)) == background


def _cells(browser, table_id: str) -> list[dict[str, str]]:
    return browser.execute_script(
        "return [...document.querySelectorAll(`#${arguments[0]} tbody tr`)].map(tr => Object.fromEntries("
        "[...tr.querySelectorAll('td')].map(td => [td.dataset.key, td.dataset.value])))", table_id)


def test_report_in_chromium(browser, report_path, sessions):  # noqa: F811
    import llm_solutions as ls

    browser.get(report_path.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    assert browser.title.startswith("llm_solutions report")
    severe = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert severe == []
    # Nothing fetched: every resource is inline, and no script came from the answers.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert browser.execute_script("return document.scripts.length") == 0
    pre = browser.execute_script("return [...document.querySelectorAll('pre')].map(p => p.textContent).join('\\n')")
    assert '<script>alert("owned")</script>' in pre and "\\x1b[2J" in pre and "\\ud800" in pre
    assert browser.execute_script("return document.querySelectorAll('details.example').length") >= 3

    # The headline numbers are the records' numbers.
    want = expected_models(ls.load_session(sessions[0]))
    rows = [r for r in _cells(browser, "headline") if r["session"] == "before"]
    assert {r["model"] for r in rows} == set(MODELS.values())
    for row in rows:
        for key, value in want[row["model"]].items():
            if key in ("input_tokens", "output_tokens"):
                shown = json.loads(row["tokens"])[0 if key == "input_tokens" else 1]
            else:
                shown = float(row[key]) if row[key] else math.nan
            assert shown == pytest.approx(value, nan_ok=True), (row["model"], key)
    comparisons = {r["model"]: r for r in _cells(browser, "comparisons")}
    assert (comparisons["gpt-6-luna"]["worse"], comparisons["gpt-6-luna"]["p_value"]) == ("3", "0.25")

    # Every plot decoded in the browser and shows something, in light and in dark.
    for scheme in ("light", "dark"):
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
        images = browser.find_elements("css selector", "img.plot")
        assert len(images) >= 6
        for image in images:
            browser.execute_script("arguments[0].scrollIntoView()", image)
            state = browser.execute_script(
                "const i = arguments[0]; return [i.complete, i.naturalWidth, i.currentSrc.length, "
                "getComputedStyle(document.body).backgroundColor]", image)
            assert state[0] and state[1] > 100, image.get_attribute("alt")
            assert state[3] == ("rgb(13, 17, 23)" if scheme == "dark" else "rgb(255, 255, 255)")
            assert _not_blank(_png_pixels(image.screenshot_as_png)), image.get_attribute("alt")
        current = {i.get_attribute("alt"): browser.execute_script("return arguments[0].currentSrc", i)
                   for i in images}
        if scheme == "light":
            light = current
        else:
            assert all(current[name] != light[name] for name in current)  # the dark variant is shown

    target = os.environ.get("LLM_SOLUTIONS_WRITE_SCREENSHOT")
    if target:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
        browser.set_window_size(1400, 1500)
        browser.execute_script("window.scrollTo(0, 0)")
        path = Path(target) if Path(target).is_absolute() else ROOT / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(browser.get_screenshot_as_png())


def test_notebook_api_returns_figures(sessions):  # noqa: F811
    import llm_solutions as ls

    figures = ls.report(list(sessions))
    assert {"pass_rates", "category_heatmap", "cost_quality", "latency", "failures", "session_deltas"} <= set(figures)
    heatmap = figures["category_heatmap"].axes[0]
    assert len(heatmap.get_yticklabels()) == 6 and len(heatmap.get_xticklabels()) == 6  # 3 models x 2 sessions
    assert heatmap.get_xlabel() == "category"


def _copy_session(source: Path, target: Path, change) -> Path:
    """A copy of a session with each record passed through ``change`` (store's line format)."""
    from llm_solutions.files import record_line

    shutil.copytree(source, target)
    for path in target.glob("*/*.jsonl"):
        records = [change(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]
        path.write_text("".join(record_line(r) for r in records), encoding="utf-8")
    return target


def test_generated_dataset_report_and_untested_session(sessions, tmp_path, monkeypatch, capsys):  # noqa: F811
    from llm_solutions.generation.report import Tally, build_report
    from llm_solutions.report.statistics import compute_statistics

    # A session collected on a dataset made by `generate`: its generation report is shown.
    tally = Tally(planned={"enum": {1: 2}, "json": {1: 1, 2: 1}})
    tally.accepted["enum"][1] = 2
    tally.accepted["json"][2] = 1
    tally.rejected["json"]["duplicate"] = 3
    tally.call({"kind": "worker", "attempts": 1, "ok": True, "input_tokens": 450, "output_tokens": 900, "cost": 0.003})
    dataset = tmp_path / "made"
    dataset.mkdir()
    (dataset / "generation_report.json").write_text(json.dumps(build_report(
        tally, status="completed", plan={"settings": {"worker_model": "gpt-6-luna"}}, checks={}, timing={},
        stop=None, resume_command=None)))
    session = _copy_session(sessions[0], tmp_path / "runs" / "on_generated", lambda r: r)
    progress = json.loads((session / "progress.json").read_text())
    progress["session_parameters"]["dataset_path"] = str(dataset)
    (session / "progress.json").write_text(json.dumps(progress))
    out = tmp_path / "gen.html"
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    assert main(["report", str(session), "--out", str(out), "--open"]) == 0
    assert capsys.readouterr().out.strip() == str(out) and opened == [out.resolve().as_uri()]
    text = out.read_text(encoding="utf-8")
    assert 'id="generation"' in text and "3 of 4 planned" in text and 'id="fig-generation"' in text
    assert "duplicate" in text and "worker gpt-6-luna" in text
    # Collected on several folders (stored as a list): the generated one's report is found.
    progress["session_parameters"]["dataset_path"] = [str(tmp_path / "other"), str(dataset)]
    (session / "progress.json").write_text(json.dumps(progress))
    assert main(["report", str(session), "--out", str(out)]) == 0
    assert "3 of 4 planned" in out.read_text(encoding="utf-8")

    # Collected with --no-execute: no pass rates, the plots show the valid-code rate instead.
    def untested(record):
        for key in ("evaluation", "tests_total", "tests_passed", "passed_all"):
            record.pop(key, None)
        return record

    bare = _copy_session(sessions[0], tmp_path / "runs" / "untested", untested)
    from llm_solutions.report.sources import open_sources

    stats = compute_statistics(open_sources([bare]))
    assert not stats.tested and all(math.isnan(r["pass_rate"]) for r in stats.rows("models"))
    assert main(["report", str(bare), "--out", str(tmp_path / "bare.html")]) == 0
    text = (tmp_path / "bare.html").read_text(encoding="utf-8")
    assert "Valid code rate per model" in text and "No tests were run" in text and "Pass rate per model" not in text
