#!/usr/bin/env bash
# Lesson A0: set up the course environment in one shot.
#
# Usage: ./setup.sh [--help] [--skip-check]
#
# 1. checks the OS (Linux, or macOS 14+ on Apple Silicon), the CPU and python3;
# 2. installs uv from PyPI into a private venv if it is missing (works with any python3);
# 3. creates .venv with Python 3.11 and installs the exact versions in uv.lock;
# 4. imports every core library and reports the devices torch and JAX can use;
# 5. prints the two commands to run next.
# Running it again with nothing changed takes a few seconds.
set -euo pipefail

# --8<-- [start:args]
usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
}

skip_check=0
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    --skip-check) skip_check=1 ;;
    *) echo "setup.sh: error: unknown argument '$arg' (allowed: --help, --skip-check)" >&2; exit 2 ;;
  esac
done
# --8<-- [end:args]

die() { echo "setup.sh: error: $*" >&2; exit 1; }
cd "$(dirname "$0")"

# --8<-- [start:platform]
os="$(uname -s)"
arch="$(uname -m)"
case "$os/$arch" in
  Darwin/arm64)
    macos="$(sw_vers -productVersion)"
    [ "${macos%%.*}" -ge 14 ] \
      || die "macOS $macos is too old: the course needs macOS 14 (Sonoma) or later, the oldest that torch's wheels support"
    echo "==> macOS $macos on Apple Silicon: torch can use the MPS GPU backend" ;;
  Darwin/x86_64)
    if [ "$(sysctl -in sysctl.proc_translated 2>/dev/null || echo 0)" = "1" ]; then
      die "this terminal runs under Rosetta (x86_64 on an Apple-Silicon Mac); open a native arm64 terminal and run ./setup.sh again"
    fi
    die "Intel Macs are not supported: torch no longer publishes macOS x86_64 wheels (use Linux or an Apple-Silicon Mac)" ;;
  Linux/x86_64|Linux/aarch64) echo "==> Linux on $arch" ;;
  *) die "unsupported platform $os/$arch (supported: macOS arm64, Linux x86_64 or aarch64)" ;;
esac

command -v python3 >/dev/null 2>&1 \
  || die "python3 not found; install Python 3.11 (macOS: 'brew install python@3.11') and run ./setup.sh again"
echo "==> $(python3 --version) at $(command -v python3)"
# --8<-- [end:platform]

# --8<-- [start:uv]
# uv is installed from PyPI into a private virtual environment in your cache folder and
# linked as ~/.local/bin/uv. That works with any python3, including the "externally
# managed" ones of Homebrew and Debian/Ubuntu that refuse a plain 'pip install' (PEP 668).
uv_was_on_path=1
command -v uv >/dev/null 2>&1 || uv_was_on_path=0
bootstrap="${XDG_CACHE_HOME:-$HOME/.cache}/rl-course/uv-bootstrap"
for dir in "$HOME/.local/bin" "$HOME/.cargo/bin" "$bootstrap/bin"; do   # earlier installs
  if ! command -v uv >/dev/null 2>&1 && [ -x "$dir/uv" ]; then export PATH="$dir:$PATH"; fi
done
if ! command -v uv >/dev/null 2>&1; then
  echo "==> uv not found: installing it from PyPI into $bootstrap"
  if python3 -m venv --clear "$bootstrap" >/dev/null 2>&1 \
    && "$bootstrap/bin/python" -m pip install --quiet --disable-pip-version-check uv; then
    mkdir -p "$HOME/.local/bin"
    ln -sf "$bootstrap/bin/uv" "$HOME/.local/bin/uv"
    ln -sf "$bootstrap/bin/uvx" "$HOME/.local/bin/uvx"
    export PATH="$HOME/.local/bin:$PATH"
    echo "==> uv installed with pip in its own venv, linked as ~/.local/bin/uv"
  elif command -v brew >/dev/null 2>&1; then
    echo "==> 'python3 -m venv' failed: installing uv with Homebrew instead"
    brew install uv || die "'brew install uv' failed (see above)"
  elif command -v pipx >/dev/null 2>&1; then
    echo "==> 'python3 -m venv' failed: installing uv with pipx instead"
    pipx install uv || die "'pipx install uv' failed (see above)"
    export PATH="$HOME/.local/bin:$PATH"
  else
    die "could not install uv: 'python3 -m venv' failed (Debian/Ubuntu: 'sudo apt-get install python3-venv') and neither brew nor pipx is here"
  fi
  command -v uv >/dev/null 2>&1 || die "uv was installed but is not on PATH; add ~/.local/bin to PATH"
fi
echo "==> $(uv --version) at $(command -v uv)"
# --8<-- [end:uv]

# --8<-- [start:sync]
# uv downloads Python 3.11 itself if the machine has another version, and installs
# exactly what uv.lock pins. A second run finds everything in place and takes seconds.
uv sync --locked || die "'uv sync --locked' failed (see the messages above; behind a proxy set HTTPS_PROXY)"
# Material for MkDocs prints an end-of-life banner on every build (the course pins mkdocs<2
# and plans its move: README, "Toolchain"). Python runs a .pth file's 'import' line at
# start-up, so this one sets the documented switch for every command in .venv.
site_packages="$(uv run --locked --no-sync python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo 'import os; os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")' > "$site_packages/rl_course_env.pth"
# --8<-- [end:sync]

# --8<-- [start:check]
# The import check takes ~15 s (torch and JAX are big), so its report is kept in .venv
# with a fingerprint of uv.lock: a second run with the same lock just prints it again.
stamp=".venv/.setup-report"
lock_hash="$(python3 -c 'import hashlib,sys; print(hashlib.sha256(open("uv.lock","rb").read()).hexdigest())')"
if [ "$skip_check" = 0 ]; then
  if [ -f "$stamp" ] && [ "$(head -n 1 "$stamp")" = "$lock_hash" ]; then
    echo "==> core libraries already checked for this uv.lock (delete $stamp to re-check)"
    tail -n +2 "$stamp"
  else
    echo "==> importing the core libraries and looking for accelerators"
    report="$(WANDB_MODE=disabled uv run --locked --no-sync python - <<'PY'
import importlib

for name in ["torch", "jax", "gymnasium", "stable_baselines3", "transformers", "wandb", "matplotlib"]:
    module = importlib.import_module(name)
    print(f"    {name:<18} {module.__version__}")

import jax
import torch

if torch.cuda.is_available():
    torch_device = f"cuda ({torch.cuda.get_device_name(0)})"
elif torch.backends.mps.is_available():
    torch_device = "mps (Apple GPU)"
else:
    torch_device = "cpu"
print(f"    torch device       {torch_device}")
print(f"    jax devices        {', '.join(str(d) for d in jax.devices())}")
PY
)" || die "a core library failed to import (see the traceback above)"
    echo "$report"
    printf '%s\n%s\n' "$lock_hash" "$report" > "$stamp"
  fi
fi
# --8<-- [end:check]

# --8<-- [start:next]
if [ "$uv_was_on_path" = 0 ]; then
  uv_dir="$(dirname "$(command -v uv)")"
  echo "==> uv is in $uv_dir, which your shell's PATH lacks: add it (e.g. to ~/.zshrc or ~/.bashrc)"
  echo "    export PATH=\"$uv_dir:\$PATH\""
fi
cat <<'EOF'
==> Ready. Next:
    uv run mkdocs serve    # read the course at http://127.0.0.1:8000
    uv run pytest          # run every lesson's tests
EOF
# --8<-- [end:next]
