#!/usr/bin/env bash
# A virtual environment with the outside Python clients medsim is tested against (OpenEnv's
# client, Hugging Face datasets), pinned in python/requirements.txt. Prints the interpreter.
# Re-running is quick once the pins are installed. MEDSIM_PYENV chooses the directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${MEDSIM_PYENV:-$root/target/pyenv}
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" >&2
fi
stamp="$venv/.medsim-requirements"
if ! cmp -s "$stamp" "$root/python/requirements.txt"; then
  echo "installing $(grep -v '^#' "$root/python/requirements.txt" | tr '\n' ' ')into $venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/python/requirements.txt" >&2
  cp "$root/python/requirements.txt" "$stamp"
fi
echo "$venv/bin/python"
