"""The runtime image's pins and build context, checked by inspection (no Docker engine here): the base image
by digest, the one downloaded file by sha256, the Python packages by hash from the lock, the version label
equal to the package's, and the files `ContainerImage.from_asset(runtime/)` would send."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

from runtime.service.app import VERSION as OPENAPI_VERSION
from runtime.version import __version__

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "runtime"
DOCKERFILE = (RUNTIME / "Dockerfile").read_text()
INSTRUCTIONS = [line.strip() for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
SHA256 = r"[0-9a-f]{64}"
# What stacks/service.py's _image() passes to ContainerImage.from_asset(runtime/, exclude=...).
ASSET_EXCLUDES = ("**/__pycache__", "**/*.pyc")
# The only file the build fetches from outside the build context and the package index, and its pin.
RDS_CA_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"


def _instructions(name: str) -> list[str]:
    return [line for line in INSTRUCTIONS if line.split()[0].upper() == name]


def _requirements(text: str) -> dict[str, str]:
    """name -> version of every `name==version` line of a requirements file (comments, options skipped)."""
    pins = {}
    for line in text.splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore semantics, enough for our patterns: `**` any directories, `*` within one name,
    a pattern that matches a directory excludes what is below it, `!` re-includes."""
    def matches(pattern: str, candidate: str) -> bool:
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        return re.fullmatch(regex.replace(r"\?", "[^/]"), candidate) is not None

    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        if any(matches(body.strip("/"), prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


def _build_context() -> list[str]:
    ignore = RUNTIME / ".dockerignore"
    patterns = [*ASSET_EXCLUDES]
    if ignore.exists():
        patterns += [line.strip() for line in ignore.read_text().splitlines()
                     if line.strip() and not line.startswith("#")]
    files = sorted(p.relative_to(RUNTIME).as_posix() for p in RUNTIME.rglob("*") if p.is_file())
    return [f for f in files if not _ignored(f, patterns)]


def test_container_base_image_is_pinned_by_digest() -> None:
    [from_line] = _instructions("FROM")
    assert re.fullmatch(rf"FROM python:3\.11\.\d+-slim-\w+@sha256:{SHA256}", from_line), from_line
    assert not _instructions("ARG"), "no build argument can swap the pinned base image or a pin"


def test_container_downloads_only_the_rds_bundle_and_checks_its_sha256() -> None:
    fetched = [line for line in _instructions("ADD") + _instructions("COPY") if "://" in line]
    assert [line.split()[-2] for line in fetched] == [RDS_CA_URL]
    destination = fetched[0].split()[-1]
    after = INSTRUCTIONS[INSTRUCTIONS.index(fetched[0]) + 1]
    assert re.fullmatch(rf'RUN echo "{SHA256}  {re.escape(destination)}"\s+\| sha256sum -c -', after), after
    runs = " ".join(_instructions("RUN"))
    assert not re.search(r"\b(curl|wget|git clone|apt-get)\b|https?://", runs), "no other network fetch"


def test_container_installs_the_lock_with_hashes_and_nothing_else() -> None:
    [install] = [line for line in _instructions("RUN") if "pip install" in line]
    for option in ("--require-hashes", "--no-deps", "--only-binary=:all:", "-r /app/requirements.txt"):
        assert option in install, install
    assert "COPY requirements.txt /app/requirements.txt" in INSTRUCTIONS


def test_container_lock_pins_every_package_by_hash() -> None:
    text = (RUNTIME / "requirements.txt").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    entries = [b for b in blocks if re.match(r"[A-Za-z0-9]", b)]
    assert entries
    for entry in entries:
        assert re.match(r"[A-Za-z0-9._-]+==\S+", entry), entry
        assert re.search(rf"--hash=sha256:{SHA256}", entry), f"no hash: {entry.splitlines()[0]}"


def test_container_lock_agrees_with_the_direct_pins() -> None:
    direct = _requirements((RUNTIME / "requirements.in").read_text())
    locked = _requirements((RUNTIME / "requirements.txt").read_text())
    assert {"fastapi", "uvicorn", "pydantic", "starlette", "psycopg", "cryptography", "pyjwt"} <= direct.keys()
    assert {name: locked.get(name) for name in direct} == direct


def test_container_version_label_is_the_package_version() -> None:
    labels = " ".join(_instructions("LABEL"))
    [label] = re.findall(r'org\.opencontainers\.image\.version="([^"]+)"', labels)
    assert label == __version__ == OPENAPI_VERSION
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "runtime.version.__version__"}


def test_container_build_context_is_code_migrations_and_the_lock() -> None:
    context = _build_context()
    assert "__main__.py" in context and "requirements.txt" in context
    assert sum(fnmatch.fnmatch(f, "db/migrations/*.sql") for f in context) >= 8
    others = [f for f in context if not (f.endswith(".py") or fnmatch.fnmatch(f, "db/migrations/*.sql")
                                         or f in ("requirements.txt", "requirements.in"))]
    assert others == [], "unexpected files in the image's build context"
    assert not [f for f in context if "__pycache__" in f or f.endswith(".pyc") or "/tests/" in f]


def test_container_build_context_matcher_excludes_nested_caches() -> None:
    patterns = ["**/__pycache__", "**/*.pyc", "Dockerfile"]
    assert _ignored("db/__pycache__/x.cpython-311.pyc", patterns)
    assert _ignored("a/b/c.pyc", patterns) and _ignored("Dockerfile", patterns)
    assert not _ignored("db/migrations/0001_owners.sql", patterns) and not _ignored("db/Dockerfile", patterns)
