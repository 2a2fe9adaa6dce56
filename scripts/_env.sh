# Sourced by scripts/serve and scripts/test: makes .venv with the project installed, once, and again
# whenever pyproject.toml or requirements.lock changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Gesso needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
stamp=.venv/.stamp-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c requirements.lock -e '.[dev,c2pa]'
  rm -f .venv/.stamp-*
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
