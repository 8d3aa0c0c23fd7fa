"""morrow installs as exactly one import package, ``morrow``, with every sub-package in it.

The four folders stay at the repository's top and are mapped under ``morrow`` (``package-dir``
in pyproject.toml): installed beside other distributions, morrow must never own a generic
top-level name such as ``tools`` or ``evals``.
"""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]
FLOORS = ("agent", "tools", "memory", "evals")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_folder_is_listed_and_nothing_else():
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    on_disk = {"morrow"} | {
        "morrow." + ".".join(init.parent.relative_to(ROOT).parts)
        for floor in FLOORS
        for init in (ROOT / floor).rglob("__init__.py")
    }
    assert listed == on_disk, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"


def test_the_wheel_holds_one_top_level_package_and_the_console_script(tmp_path):
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    source = tmp_path / "src"
    for name in filter(None, tracked.split("\0")):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_symlink():
            target.symlink_to((ROOT / name).readlink())
        elif (ROOT / name).is_file():
            target.write_bytes((ROOT / name).read_bytes())
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--no-index",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("morrow-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        tops = {name.split("/")[0] for name in names}
        info = next(t for t in tops if t.endswith(".dist-info"))
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert tops == {"morrow", info}
    assert "morrow = morrow.agent.cli:main" in entry_points
    for needed in (
        "morrow/py.typed",
        "morrow/agent/config.example.toml",
        "morrow/agent/loop.py",
        "morrow/evals/suites/core/suite.yaml",
    ):
        assert needed in names


def test_the_suites_folder_is_the_real_one_not_a_link_tree():
    """``morrow eval record`` writes golden trajectories there: never into build/'s links."""
    from morrow.evals.cases import SUITES_DIR

    assert SUITES_DIR == SUITES_DIR.resolve()
    assert "__editable__" not in str(SUITES_DIR)
