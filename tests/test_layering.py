"""The house: one package, four floors importing only downward, no circles, rooms of a size.

- ``morrow.evals`` -> ``morrow.agent`` -> ``morrow.tools`` -> ``morrow.memory``: a module may
  import its own floor and the ones below it, never one above.
- No two modules import each other, directly or around a loop (any import counts: at the top, in
  a function, under ``TYPE_CHECKING``); a package's ``__init__`` is a module like the others.
- No folder holds more than 15 modules side by side.
- Provider SDKs are imported only in their adapters; ``morrow --help`` imports none of them.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FLOORS = ["memory", "tools", "agent", "evals"]  # each may import only those before it
SDK_HOMES = {
    "anthropic": {"agent/providers/anthropic.py"},
    "openai": {"agent/providers/openai.py"},
}
SDKS = {"anthropic", "openai", "google", "googleapiclient"}
MAX_MODULES_PER_FOLDER = 15


def module_name(path: Path) -> str:
    parts = ["morrow", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_files():
    for floor in FLOORS:
        for path in sorted((ROOT / floor).rglob("*.py")):
            yield floor, path


MODULES = {module_name(path): path for _, path in package_files()}


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute; relative imports resolved), anywhere in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # ``from package import module`` imports the module, not the package's __init__
            subs = {f"{base}.{alias.name}" for alias in node.names}
            names.update(subs if subs <= MODULES.keys() else {base, *subs})
    return names


def project_imports(path: Path) -> set[str]:
    """The project's modules ``path`` imports (a name imported from a module counts as it)."""
    found = set()
    for name in imports_of(path):
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != module_name(path):
            found.add(name)
    return found


@pytest.mark.parametrize(("floor", "path"), list(package_files()), ids=lambda v: str(v))
def test_imports_point_down(floor, path):
    allowed = set(FLOORS[: FLOORS.index(floor) + 1])
    rel = path.relative_to(ROOT).as_posix()
    for name in imports_of(path):
        top = name.split(".")[0]
        assert top not in FLOORS, f"{rel} imports {name}: write morrow.{name}"
        if top == "morrow" and name.count(".") >= 1:
            assert name.split(".")[1] in allowed, f"{rel} imports {name} (upward)"
        if top in SDK_HOMES:
            assert rel in SDK_HOMES[top], f"{rel} imports the {top} SDK"


def test_tools_and_memory_use_nothing_of_agent():
    for floor in ("tools", "memory"):
        for path in (ROOT / floor).rglob("*.py"):
            for name in imports_of(path):
                assert not name.startswith("morrow.agent"), f"{path} imports {name}"


def test_no_module_imports_itself_around_a_circle():
    graph = {name: project_imports(path) for name, path in MODULES.items()}
    circles = _strongly_connected(graph)
    assert not circles, "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the groups of modules that import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_no_folder_is_crowded():
    for floor in FLOORS:
        for folder in [ROOT / floor, *(p for p in (ROOT / floor).rglob("*") if p.is_dir())]:
            modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
            assert len(modules) <= MAX_MODULES_PER_FOLDER, (
                f"{folder.relative_to(ROOT)} holds {len(modules)} modules: group them in rooms"
            )


def loaded_after(code: str, cwd: Path) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,  # not the checkout: only the installed package may be importable
    ).stdout
    return {name.split(".")[0] for name in out.split()}


def test_help_imports_no_sdk_and_no_pydantic(tmp_path):
    loaded = loaded_after(
        "from morrow.agent.cli import build_parser\nbuild_parser().format_help()", tmp_path
    )
    assert not loaded & (SDKS | {"pydantic", "httpx2", "structlog"}), loaded & SDKS


def test_building_an_openai_provider_does_not_import_anthropic(tmp_path):
    code = (
        "from morrow.agent.config import ProviderConfig\n"
        "from morrow.agent.providers import build_provider\n"
        "build_provider(ProviderConfig(name='l', kind='openai', model='m', "
        "base_url='http://127.0.0.1:1/v1'), index=0, source='x')"
    )
    loaded = loaded_after(code, tmp_path)
    assert "openai" in loaded
    assert "anthropic" not in loaded


def test_the_bench_scripts_import_no_circle():
    scripts = {path.stem: path for path in (ROOT / "bench").glob("*.py")}
    graph = {
        name: {imported for imported in imports_of(path) if imported in scripts} - {name}
        for name, path in scripts.items()
    }
    circles = _strongly_connected(graph)
    assert not circles, "bench circles: " + "; ".join(" <-> ".join(c) for c in circles)
