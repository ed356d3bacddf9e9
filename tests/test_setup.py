"""setup.sh as a newcomer meets it: a clean HOME, no uv, and an "externally managed" python3.

Homebrew's and Debian/Ubuntu's python3 refuse ``pip install`` (PEP 668), so setup.sh must
bootstrap uv another way. The run works on a copy of the project (its own ``.venv``) and
shares uv's and pip's caches with this machine, so it downloads almost nothing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ["setup.sh", "pyproject.toml", "uv.lock", ".python-version"]
CANDIDATES = ["/usr/bin/python3", "/opt/homebrew/bin/python3", "/usr/local/bin/python3"]
SYSTEM_DIRS = ["/usr/bin", "/bin"]


def externally_managed_python() -> str | None:
    """The first python3 here whose standard library carries an EXTERNALLY-MANAGED marker."""
    for exe in CANDIDATES:
        if not os.access(exe, os.X_OK):
            continue
        probe = subprocess.run(
            [exe, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and (Path(probe.stdout.strip()) / "EXTERNALLY-MANAGED").is_file():
            return exe
    return None


def pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        return False
    return True


def copy_project(dest: Path) -> Path:
    dest.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, dest / name)
    return dest


def tool_dir(name: str) -> str:
    """Where the uv running this suite keeps its cache or its Pythons (shared, to stay cheap)."""
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    return subprocess.run(
        [uv, *name.split()], capture_output=True, text=True, check=True
    ).stdout.strip()


def run_setup(
    project: Path, env: dict[str, str], *args: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``bash setup.sh args`` in a copied project with only ``env``, capturing its output."""
    return subprocess.run(
        ["bash", "setup.sh", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def clean_env(home: Path, bin_dir: Path) -> dict[str, str]:
    env = {
        "HOME": str(home),
        "PATH": os.pathsep.join([str(bin_dir), *SYSTEM_DIRS]),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "UV_CACHE_DIR": tool_dir("cache dir"),
        "UV_PYTHON_INSTALL_DIR": tool_dir("python dir"),
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
    }
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "SSL_CERT_FILE", "UV_NATIVE_TLS"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


@pytest.mark.slow
def test_setup_sh_installs_uv_with_an_externally_managed_python3(tmp_path: Path) -> None:
    python3 = externally_managed_python()
    if python3 is None:
        pytest.skip(
            "no externally managed python3 here (looked at " + ", ".join(CANDIDATES) + "); "
            "Debian/Ubuntu's /usr/bin/python3 and Homebrew's are"
        )
    if any(Path(d, "uv").exists() for d in SYSTEM_DIRS):
        pytest.skip(f"uv is installed in {SYSTEM_DIRS}: cannot hide it from setup.sh")
    if subprocess.run([python3, "-c", "import ensurepip, venv"], capture_output=True).returncode:
        pytest.skip(f"{python3} has no venv/ensurepip (Debian: apt-get install python3-venv)")
    if not pypi_reachable():
        pytest.skip("pypi.org is unreachable: setup.sh installs uv from PyPI")

    project = copy_project(tmp_path / "course")
    home = tmp_path / "home"
    bin_dir = tmp_path / "bin"  # only python3 here; the rest of PATH is /usr/bin:/bin
    home.mkdir()
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(python3)
    env = clean_env(home, bin_dir)
    assert subprocess.run(["sh", "-c", "command -v uv"], env=env).returncode != 0

    started = time.monotonic()
    result = run_setup(project, env, "--skip-check", timeout=300)
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "uv installed with pip in its own venv" in output, output
    bootstrap = home / ".cache" / "rl-course" / "uv-bootstrap" / "bin" / "uv"
    assert bootstrap.is_file()
    assert (home / ".local" / "bin" / "uv").resolve() == bootstrap.resolve()
    assert "which your shell's PATH lacks" in output  # tells the reader how to find uv later
    venv_python = project / ".venv" / "bin" / "python"
    version = subprocess.run(
        [
            venv_python,
            "-c",
            "import sys, os; print(sys.version_info[:2], os.environ.get('NO_MKDOCS_2_WARNING'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == "(3, 11) 1", version  # Python 3.11, and the .pth that quiets Material
    print(f"setup.sh with {python3}, clean HOME, no uv: {seconds:.1f} s")

    # A second run finds uv in ~/.local/bin and the environment in place.
    again = run_setup(project, env, "--skip-check", timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "installing it from PyPI" not in again.stdout


@pytest.mark.parametrize(("version", "ok"), [("13.6.1", False), ("14.0", True)])
def test_setup_sh_names_the_minimum_macos(tmp_path: Path, version: str, ok: bool) -> None:
    # Pretend to be an Apple-Silicon Mac; a python3 that fails stops a supported run right
    # after the platform check, before anything is installed.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "uname").write_text(
        '#!/bin/sh\ncase "$1" in -s) echo Darwin ;; -m) echo arm64 ;; esac\n'
    )
    (fake / "sw_vers").write_text(f"#!/bin/sh\necho {version}\n")
    (fake / "python3").write_text("#!/bin/sh\nexit 3\n")
    for tool in fake.iterdir():
        tool.chmod(0o755)
    project = copy_project(tmp_path / "course")
    env = {"HOME": str(tmp_path), "PATH": os.pathsep.join([str(fake), *SYSTEM_DIRS])}
    result = run_setup(project, env, timeout=60)
    if ok:
        assert f"macOS {version} on Apple Silicon" in result.stdout, result.stdout + result.stderr
    else:
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            f"setup.sh: error: macOS {version} is too old: the course needs macOS 14 (Sonoma) "
            "or later, the oldest that torch's wheels support"
        ]
