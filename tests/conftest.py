"""Test set-up shared by the whole suite.

``httpx2.alias_httpx()`` must run before anything imports ``httpx``: the provider SDKs send
through httpx2, and respx patches ``httpx``; with the alias both names are one module, so respx
sees the SDKs' traffic. respx's plugin is loaded only after that (``-p no:respx`` in addopts).
"""

import httpx2

httpx2.alias_httpx()

pytest_plugins = ["respx.plugin"]

import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402
from support import canaries  # noqa: E402

# Deterministic property tests: the same examples on every run and machine, no timing deadline
# (a 2-core CI machine is noisy; speed is measured in bench/, never asserted).
settings.register_profile("morrow", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("morrow")

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own MORROW_HOME and no real API key from the environment."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MORROW_HOME", str(home))
    monkeypatch.delenv("MORROW_CONFIG", raising=False)
    for var in list(os.environ):
        if var.endswith("_API_KEY") or var.startswith(("ANTHROPIC_", "OPENAI_", "GEMINI_")):
            monkeypatch.delenv(var, raising=False)
    for var, value in canaries.ENVIRONMENT.items():  # must never reach a log or trajectory
        monkeypatch.setenv(var, value)
    return home


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a canary secret (or a body, in a log) was written by any test."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    found = canaries.leaks(factory.getbasetemp())
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("canary leaks: " + "; ".join(found[:20]), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def data_dir() -> Path:
    """The folder of test fixtures (copied from ../shared/datasets with their licenses)."""
    return DATA


_CHECKOUT = Path(__file__).resolve().parents[1]


def _unshadow() -> None:
    """Undo pytest's import of the checkout under its folder's name.

    The root holds ``__init__.py``, so pytest imports it as a package named after the folder,
    with the folder's parent on sys.path: a checkout in a folder named like an installed
    package (a worktree called "mcp") would shadow that package. morrow is used as installed.
    """
    sys.path[:] = [p for p in sys.path if p != str(_CHECKOUT.parent)]
    module = sys.modules.get(_CHECKOUT.name)
    if getattr(module, "__file__", None) == str(_CHECKOUT / "__init__.py"):
        del sys.modules[_CHECKOUT.name]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):  # type: ignore[no-untyped-def]
    """Set-up of every test, then :func:`_unshadow` (the root package is set up first)."""
    yield
    _unshadow()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):  # type: ignore[no-untyped-def]
    """Before each fixture (set up after the root package), the same as above."""
    _unshadow()
    return (yield)
