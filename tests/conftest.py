"""Test set-up shared by the whole suite.

``httpx2.alias_httpx()`` must run before anything imports ``httpx``: the provider SDKs send
through httpx2, and respx patches ``httpx``; with the alias both names are one module, so respx
sees the SDKs' traffic. respx's plugin is loaded only after that (``-p no:respx`` in addopts).
"""

import httpx2

httpx2.alias_httpx()

pytest_plugins = ["respx.plugin"]

import os  # noqa: E402
import socket  # noqa: E402
from collections.abc import Iterator  # noqa: E402
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
    """Fail the run if a canary secret (or a body, in a log) was written by any test.

    Under pytest-xdist the workers' temporary folders lie inside the controller's: the
    controller searches them all once the workers are done; a worker searches nothing.
    """
    if hasattr(session.config, "workerinput"):
        return
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
def refused_url() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` where every connection is refused, for as long as the test runs.

    The port is bound (so nothing else can take it) and never listened on: the kernel answers
    each connection with a reset. No guessing of a free or closed port, no race.
    """
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture
def data_dir() -> Path:
    """The folder of test fixtures (copied from ../shared/datasets with their licenses)."""
    return DATA
