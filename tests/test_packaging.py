"""Packaging and locks: `pip install .` builds the runtime and nothing else (with its SQL migrations), the
installed `platform-runtime` answers --version with runtime/version.py's version, and every lock pins every
package by hash, in agreement with the direct pins and with each other; make installs them with hashes.

The wheel is built from a copy of the distribution's sources (pyproject.toml, runtime/) in a temporary
folder, so the checkout gets no build/ or egg-info; pip fetches the pinned build backend from the package
index (about 10-15 s in all)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.version import __version__

ROOT = Path(__file__).resolve().parents[1]
LOCKS = {
    "runtime": ROOT / "runtime" / "requirements.txt",
    "infra": ROOT / "requirements" / "infra.txt",
    "dev": ROOT / "requirements" / "dev.txt",
    "checkov": ROOT / "requirements" / "checkov.txt",
    "pip": ROOT / "requirements" / "pip.txt",
}
SOURCES = {
    "runtime": ROOT / "runtime" / "requirements.in",
    "infra": ROOT / "requirements" / "infra.in",
    "dev": ROOT / "requirements" / "dev.in",
    "checkov": ROOT / "requirements" / "checkov.in",
    "pip": ROOT / "requirements" / "pip.in",
}
MIGRATIONS = sorted(p.name for p in (ROOT / "runtime" / "db" / "migrations").glob("*.sql"))


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins


def _direct_pins(source: Path) -> dict[str, str]:
    """The == pins of an .in file and of the .in files it includes with -r."""
    pins: dict[str, str] = {}
    for line in source.read_text().splitlines():
        if line.startswith("-r "):
            pins |= _direct_pins((source.parent / line[3:].strip()).resolve())
    return pins | _pins(source.read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    shutil.copy(ROOT / "pyproject.toml", src / "pyproject.toml")
    shutil.copytree(ROOT / "runtime", src / "runtime",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "-w", str(out), str(src)], check=True, capture_output=True, text=True, timeout=240)
    [built] = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment with only the wheel (its dependencies aren't needed for --version)."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=False)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install", "--quiet",
                    "--no-deps", "--disable-pip-version-check", str(wheel)], check=True, timeout=120)
    yield env


def test_packaging_wheel_contains_only_the_runtime_and_its_migrations(wheel: Path) -> None:
    assert wheel.name == f"auditable_data_platform-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = f"auditable_data_platform-{__version__}.dist-info/"
    outside = [n for n in names if not n.startswith(("runtime/", dist_info))]
    assert outside == []
    non_python = [n for n in names if n.startswith("runtime/") and not n.endswith(".py")]
    assert non_python == [f"runtime/db/migrations/{m}" for m in MIGRATIONS] and len(MIGRATIONS) >= 8
    assert "runtime/__main__.py" in names and "runtime/version.py" in names


def test_packaging_wheel_metadata_names_the_entry_point_and_the_direct_pins(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    dist_info = f"auditable_data_platform-{__version__}.dist-info/"
    assert "platform-runtime = runtime.__main__:main" in archive.read(dist_info + "entry_points.txt").decode()
    metadata = archive.read(dist_info + "METADATA").decode()
    requires = _pins("\n".join(line.removeprefix("Requires-Dist: ") for line in metadata.splitlines()
                               if line.startswith("Requires-Dist: ")))
    assert requires == _direct_pins(SOURCES["runtime"])


def test_packaging_installed_console_script_prints_the_version(installed: Path, tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    script = subprocess.run([str(installed / "bin" / "platform-runtime"), "--version"], cwd=tmp_path, env=clean,
                            capture_output=True, text=True, timeout=60, check=True)
    module = subprocess.run([str(installed / "bin" / "python"), "-m", "runtime", "--version"], cwd=tmp_path,
                            env=clean, capture_output=True, text=True, timeout=60, check=True)
    assert script.stdout == module.stdout == f"platform-runtime {__version__}\n"


def test_packaging_runtime_cli_version_flag_prints_the_version() -> None:
    result = subprocess.run([sys.executable, "-m", "runtime", "--version"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, f"platform-runtime {__version__}\n")


def test_packaging_pyproject_reads_the_one_version_and_packages_only_the_runtime() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in config["project"]
    assert config["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "runtime.version.__version__"}
    assert config["tool"]["setuptools"]["packages"]["find"]["include"] == ["runtime", "runtime.*"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_packaging_lock_pins_every_package_by_hash(lock: str) -> None:
    entries = [b for b in re.split(r"\n(?=\S)", LOCKS[lock].read_text()) if re.match(r"[A-Za-z0-9]", b)]
    assert entries
    for entry in entries:
        assert re.match(r"[A-Za-z0-9._-]+==\S+", entry), entry
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), f"{lock}: no hash for {entry.splitlines()[0]}"


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_packaging_lock_agrees_with_its_direct_pins(lock: str) -> None:
    direct = _direct_pins(SOURCES[lock])
    locked = _pins(LOCKS[lock].read_text())
    assert direct and {name: locked.get(name) for name in direct} == direct


def test_packaging_locks_share_one_version_per_package() -> None:
    runtime, infra, dev = (_pins(LOCKS[name].read_text()) for name in ("runtime", "infra", "dev"))
    assert runtime.items() <= infra.items() <= dev.items()


def test_packaging_make_installs_only_locks_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [line.strip() for line in makefile.splitlines() if "pip install" in line]
    assert len(installs) >= 4
    for line in installs:
        assert "--require-hashes" in line, line
        [target] = re.findall(r"-r (\S+)", line)
        assert (ROOT / target).resolve() in {p.resolve() for p in LOCKS.values()}, line
