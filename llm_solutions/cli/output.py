"""What the commands print: log setup and the end-of-run report."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from llm_solutions.collection.runner import RunResult
from llm_solutions.collection.store import read_json
from llm_solutions.text import visible


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (tests and notebooks replace it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class _VisibleFormatter(logging.Formatter):
    """Log lines with control characters spelled out: messages quote provider errors and
    test output, which must not be able to restyle the terminal or fake a line."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record))


def configure_logging(level: str = "INFO", log_file: str | None = None) -> None:
    """Log to stderr (and to ``log_file``); the SDKs' own chatter stays at WARNING."""
    handlers: list[logging.Handler] = [_StderrHandler()]
    if log_file:
        Path(log_file).expanduser().parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8", errors="backslashreplace"))
    formatter = _VisibleFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for handler in handlers:
        handler.setFormatter(formatter)
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=handlers, force=True)
    for noisy in ("httpx", "httpx2", "openai", "anthropic", "google_genai", "aiohttp"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def print_result(result: RunResult) -> None:
    """The end-of-run lines: where the data is, what happened, how to continue."""
    print(f"session: {result.path}")
    print(f"status: {result.status} - {result.completed}/{result.total} tasks "
          f"({result.successful} successful, {result.failed} failed), spent ${result.cost:.4f}")
    print_model_lines(result.path, stopped=result.stopped_models)
    for model, reason in result.stopped_models.items():
        print(visible(f"model {model} was stopped: {reason}"))
    # The commands are printed as they must be typed: with the output folder when it is
    # not the default one.
    retry = f"{_resume_command(result)} --retry-failed"
    if result.resume_command:
        extra = " --retry-failed" if result.retry_may_fix else ""
        print(f"resume with: {result.resume_command}{extra}")
        if result.retry_may_fix:
            print(f"({result.retry_may_fix} task(s) failed for reasons a retry may fix: rate limits, server errors, "
                  "timeouts, an unreachable server; --retry-failed runs them again)")
    elif result.retry_may_fix:
        print(f"{result.retry_may_fix} task(s) failed for reasons a retry may fix (rate limits, server errors, "
              f"timeouts, an unreachable server); run them again with: {retry}")
    elif result.failed:
        print(f"{result.failed} task(s) failed (see the records' error field); re-run only them with: {retry}")
    if result.completed:
        print(f"report: {_report_command(result)}")


def _report_command(result: RunResult) -> str:
    """The command that writes the session's HTML report, as it must be typed."""
    command = f"llm-solutions report {result.session_id}"
    if result.path.parent.resolve() != Path("generated").resolve():
        command += f" --output-dir {result.path.parent}"
    return command


def _resume_command(result: RunResult) -> str:
    if result.resume_command:
        return result.resume_command
    command = f"python scripts/resume_collection.py {result.session_id}"
    output_dir = result.path.parent
    if output_dir.resolve() != Path("generated").resolve():
        command += f" --output-dir {output_dir}"
    return command


def print_model_lines(session: Path, stopped: dict[str, str] | None = None) -> None:
    """One line per model from a session's ``summary.json``: answers, valid code, tests,
    spend; a model stopped before its first answer says so instead of "0 answers"."""
    summary = read_json(session / "summary.json") or {}
    stopped = stopped or {}
    for model, data in (summary.get("model_summaries") or {}).items():
        perf = data.get("overall_performance", {})
        if not perf.get("solutions") and model in stopped:
            print(visible(f"  {model}: stopped before its first answer (see below)"))
            continue
        tests = f", tests passed {perf['pass_rate']:.1f}%" if "pass_rate" in perf else ""
        note = " (then stopped, see below)" if model in stopped else ""
        print(visible(f"  {model}: {perf.get('solutions', 0)} answers, valid code "
                      f"{perf.get('full_validity_rate', 0):.1f}%{tests}, ${perf.get('cost', 0):.4f}{note}"))


def byte_size(size: int | None) -> str:
    """``size`` bytes for people: ``512 B``, ``3.4 MB``; ``unknown`` for ``None``."""
    if size is None:
        return "unknown"
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"
