"""Packaging: an sdist, and a wheel built from it, carry everything `armvirt run` needs. The
wheel is installed into a fresh virtual environment outside the checkout, which builds the
hypervisor and a guest from the sources inside the package (into the user cache, keyed on their
content) and boots the guest under the hypervisor.

Slow-ish (about a minute: an isolated build, a venv, the dependencies from pip's cache). The
Numba compile cache is shared with this checkout and keyed on content (armvirt/_jitcache.py):
the installed copy must not compile the core again (it would say so on stderr).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def sh(*cmd, cwd: Path, env=None, timeout=600) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.mark.slow
def test_wheel_from_the_sdist_installs_and_boots_a_guest_under_the_hypervisor(tmp_path):
    pytest.importorskip("build")
    dist = tmp_path / "dist"
    # a copy of the tracked files, so the build leaves nothing in the checkout
    src = tmp_path / "src"
    files = sh("git", "ls-files", "-z", cwd=ROOT).stdout.split("\0")
    for f in filter(None, files):
        if (ROOT / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            (src / f).write_bytes((ROOT / f).read_bytes())
    sh(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", dist, src, cwd=tmp_path)
    sdist = next(dist.glob("armvirt-*.tar.gz"))
    wheel = next(dist.glob("armvirt-*.whl"))
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    assert {"firmware/hv.S", "firmware/include/hv_abi.h", "guests/hello.S",
            "guests/include/crt0.S", "setup.py"} <= names
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert {"armvirt/_data/firmware/hv.S", "armvirt/_data/firmware/include/hv_abi.h",
            "armvirt/_data/guests/hello.S", "armvirt/isa/ldst.decode"} <= names

    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    py = venv / "bin" / "python"
    sh(py, "-m", "pip", "install", "--quiet", wheel, cwd=tmp_path)
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "PYTHON"))}
    # The same run from the checkout first (compiling the core if this machine's cache is cold):
    # the installed copy, at another path, must then find the compiled core in that cache.
    from armvirt.build import build_guests
    mine = next(p for p in build_guests() if p.stem == "hello")
    sh(sys.executable, "-m", "armvirt.cli", "run", mine, cwd=ROOT, env=env, timeout=1800)
    built = sh(py, "-m", "armvirt.build", "guests", cwd=away, env=env).stdout
    hello = next(Path(ln.split("built ", 1)[1]) for ln in built.splitlines()
                 if ln.strip().endswith("hello.elf"))
    assert not hello.is_relative_to(ROOT) and hello.is_file()
    r = sh(venv / "bin" / "armvirt", "run", hello, cwd=away, env=env)
    assert "Hello from armvirt!" in r.stdout, r.stdout + r.stderr
    assert "[hv] armvirt hypervisor (split" in r.stderr, r.stderr
    assert "compiling the emulator core" not in r.stderr, r.stderr   # the cache was reused
    assert str(ROOT) not in r.stderr
