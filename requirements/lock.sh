#!/usr/bin/env bash
# Regenerate every lock file (pinned versions with sha256 hashes) from its .in file:
#
#   runtime/requirements.in  -> runtime/requirements.txt   the image (Dockerfile: --require-hashes --no-deps)
#   requirements/infra.in    -> requirements/infra.txt     app.py and stacks/ (+ the runtime, which the stacks import)
#   requirements/dev.in      -> requirements/dev.txt       .venv: infra + runtime + test and lint tools (make deps)
#   requirements/checkov.in  -> requirements/checkov.txt   .venv-checkov (make deps)
#   requirements/pip.in      -> requirements/pip.txt       pip itself, installed first in both venvs
#
# Usage: requirements/lock.sh                 keep every existing pin that still satisfies the .in files
#        requirements/lock.sh --upgrade       re-resolve everything to the newest allowed versions
#        requirements/lock.sh -P NAME         upgrade one package (uv's --upgrade-package), e.g. -P boto3
#
# The tool (uv, pinned below) lives in a throwaway virtual environment, not in any requirements file.
# The locks are resolved for Python 3.11 on every platform (--universal; the image is linux/amd64) against
# PyPI, and constrained in order: the image's lock constrains infra's, infra's constrains dev's, so a
# package shared by two locks has one version in both.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
export UV_INDEX_URL=https://pypi.org/simple UV_NO_CONFIG=1
compile() {  # compile IN OUT [PYTHON] [extra uv args...]
    local in=$1 out=$2 py=$3; shift 3
    "$tools/bin/uv" pip compile "$in" -o "$out" --generate-hashes --universal --python-version "$py" \
        --no-header --quiet "$@"
}
compile runtime/requirements.in runtime/requirements.txt 3.11 "$@"
compile requirements/infra.in requirements/infra.txt 3.11 -c runtime/requirements.txt "$@"
compile requirements/dev.in requirements/dev.txt 3.11 -c requirements/infra.txt "$@"
# checkov's tree needs Python >= 3.11.5 (soupsieve); the image and CI run newer 3.11 patch releases.
compile requirements/checkov.in requirements/checkov.txt 3.11.5 "$@"
compile requirements/pip.in requirements/pip.txt 3.11 "$@"
git --no-pager diff --stat -- runtime/requirements.txt requirements/ || true
