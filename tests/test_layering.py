"""The four floors import only downward, SDKs stay in their adapters, and start-up stays lean."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FLOORS = ["memory", "tools", "agent", "evals"]  # each may import only those before it
SDKS = {"anthropic", "openai", "google", "googleapiclient"}
SDK_HOMES = {
    "anthropic": {"agent/providers/anthropic.py"},
    "openai": {"agent/providers/openai.py"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def package_files():
    for floor in FLOORS:
        for path in sorted((ROOT / floor).rglob("*.py")):
            yield floor, path


@pytest.mark.parametrize(("floor", "path"), list(package_files()), ids=lambda v: str(v))
def test_imports_point_down(floor, path):
    allowed = set(FLOORS[: FLOORS.index(floor) + 1])
    for name in imports_of(path):
        top = name.split(".")[0]
        if top in FLOORS:
            assert top in allowed, f"{path.relative_to(ROOT)} imports {name} (upward)"
        if top in SDK_HOMES:
            rel = path.relative_to(ROOT).as_posix()
            assert rel in SDK_HOMES[top], f"{rel} imports the {top} SDK"


def test_tools_and_memory_use_only_the_vocabulary_of_agent():
    for floor in ("tools", "memory"):
        for path in (ROOT / floor).rglob("*.py"):
            for name in imports_of(path):
                assert not name.startswith("agent"), f"{path} imports {name}"


def loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return {name.split(".")[0] for name in out.split()}


def test_help_imports_no_sdk_and_no_pydantic():
    loaded = loaded_after("from agent.cli import build_parser\nbuild_parser().format_help()")
    assert not loaded & (SDKS | {"pydantic", "httpx2", "structlog"}), loaded & SDKS


def test_building_an_openai_provider_does_not_import_anthropic(tmp_path):
    code = (
        "from agent.config import ProviderConfig\n"
        "from agent.providers import build_provider\n"
        "build_provider(ProviderConfig(name='l', kind='openai', model='m', "
        "base_url='http://127.0.0.1:1/v1'), index=0, source='x')"
    )
    loaded = loaded_after(code)
    assert "openai" in loaded
    assert "anthropic" not in loaded
