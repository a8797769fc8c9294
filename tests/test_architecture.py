"""The shape of the package, checked: imports point down the layers, the environment is read
in one place, and every variable the library reads is documented in ``.env.example``."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from llm_solutions.models.table import PROVIDERS
from llm_solutions.settings.environment import VARIABLES

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "llm_solutions"

# Lower layers never import higher ones (type-only imports aside).  A new package gets a
# layer here: generation, export and batch sit beside collection, report above export.
LAYERS = [
    {"durations", "text"},
    {"headers", "files"},
    {"errors"},
    {"settings"},
    {"dataset", "prompts", "validation"},
    {"models"},
    {"limits", "cache"},
    {"calls"},
    {"extraction", "evaluation"},
    {"scoring"},
    {"batch"},  # below collection: it is handed requests and hands back CallResults to record
    {"collection", "generation"},
    {"export"},  # reads sessions through collection's store and its schema readers
    {"report"},  # statistics, figures and the HTML page over sessions (above export)
    {"cli"},
    {"__init__", "__main__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found[str(path.relative_to(ROOT))] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def unit(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def runtime_imports(tree: ast.Module) -> list[str]:
    type_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(
        node.test) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("llm_solutions"):
            if node.module == "llm_solutions":
                found += [f"llm_solutions.{alias.name}" for alias in node.names]
            else:
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("llm_solutions")]
    return found


def test_every_import_points_down_the_layers():
    wrong = []
    for path, tree in modules().items():
        here = unit(".".join(Path(path).with_suffix("").parts))
        assert here in RANK, f"{path}: package '{here}' has no layer in LAYERS"
        for target in runtime_imports(tree):
            there = unit(target)
            if there != here and RANK[there] >= RANK[here]:
                wrong.append(f"{path} imports {target}")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(wrong)


def test_only_the_environment_module_reads_the_environment():
    readers = []
    for path, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" and \
                    node.attr in {"environ", "getenv", "environb"}:
                readers.append(path)
            if isinstance(node, ast.ImportFrom) and node.module == "os" and \
                    {a.name for a in node.names} & {"environ", "getenv"}:
                readers.append(path)
    assert set(readers) == {"llm_solutions/settings/environment.py"}


def test_each_variable_is_named_by_exactly_one_module():
    # environment.py reads this one itself (before any settings exist).
    own = {"LLM_SOLUTIONS_NO_DOTENV"}
    named = defaultdict(set)
    for path, tree in modules().items():
        if path.endswith("settings/environment.py"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in VARIABLES:
                named[node.value].add(path)
    assert {name for name in VARIABLES if len(named[name]) != (0 if name in own else 1)} == set(), dict(named)


def test_env_example_documents_every_variable():
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    table = {v for p in PROVIDERS.values() for v in (p.api_key_env, p.base_url_env, p.model_env) if v}
    table |= {v for p in PROVIDERS.values() for v in p.client_env.values()}
    missing = sorted(name for name in set(VARIABLES) | table if name not in text)
    assert not missing, f".env.example does not mention {missing}"


def test_requirements_txt_is_in_step_with_pyproject():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(dict.fromkeys([*project["dependencies"], *project["optional-dependencies"]["test"]]))
    listed = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert listed == wanted
