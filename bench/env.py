"""The bench virtualenv `.bench-venv`: peers (torch, jax, ...) plus chainrule itself.

The peers are kept out of the project's own environment on purpose: the library must
never depend on them, and their size would slow every `make test`. `python -m bench
setup` creates the environment; running it again only installs what is missing.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_VENV = ROOT / ".bench-venv"

# (import name, pip requirements). torch is pinned to the exact version for which a
# CPU-only wheel is available locally; an unpinned `torch` would pull the CUDA build.
PEERS = [
    ("numpy", ["numpy"]),
    ("torch", ["torch==2.13.0"]),
    ("autograd", ["autograd"]),
    ("mygrad", ["mygrad"]),
    ("micrograd", ["micrograd"]),
    ("jax", ["jax", "jaxlib"]),
]


def venv_python():
    """The bench venv's interpreter, or None when the venv has not been set up."""
    python = BENCH_VENV / "bin" / "python"
    return python if python.exists() else None


def worker_python():
    """Interpreter that runs every framework's workload (one for all, so they share
    the same NumPy): the bench venv when present, else the current interpreter."""
    return str(venv_python() or sys.executable)


def _has_module(python, name):
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is None)"
    return subprocess.run([str(python), "-c", code], capture_output=True).returncode == 0


def _has_distribution(python, name):
    code = f"import importlib.metadata as m; m.distribution({name!r})"
    return subprocess.run([str(python), "-c", code], capture_output=True).returncode == 0


def _pip(python, *args):
    cmd = [str(python), "-m", "pip", "install", "--quiet", *args]
    print("  $", " ".join(cmd[1:]), flush=True)
    return subprocess.run(cmd).returncode == 0


def setup():
    """Create or complete the bench venv. Failures of single peers are reported, not
    fatal: the suite skips whatever is absent."""
    if venv_python() is None:
        print(f"creating {BENCH_VENV}", flush=True)
        # The base interpreter, so that the new venv does not nest inside another one.
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(BENCH_VENV)], check=True)
    python = venv_python()
    missing = []
    for module, requirements in PEERS:
        if _has_module(python, module):
            print(f"ok       {module}", flush=True)
            continue
        print(f"install  {module}", flush=True)
        if not _pip(python, *requirements):
            missing.append(module)
            print(f"warning: could not install {module}; it will be skipped", flush=True)
    if _has_distribution(python, "chainrule"):
        print("ok       chainrule (editable)", flush=True)
    else:
        print("install  chainrule (editable)", flush=True)
        # The train extras are what `chainrule train` needs; fall back to the bare
        # package when they cannot be installed.
        if not (_pip(python, "-e", f"{ROOT}[train]") or _pip(python, "-e", str(ROOT))):
            missing.append("chainrule")
    print(
        f"bench venv ready: {python}" + (f" (missing: {', '.join(missing)})" if missing else ""),
        flush=True,
    )
    return 0 if "numpy" not in missing else 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(setup())
