"""Generated files are committed next to their generators: fail when they are stale."""
import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["armvirt.gen_layout", "armvirt.isa.gen_decoder", "armvirt.hv.gen_abi"])
def test_generated_file_is_current(module):
    r = subprocess.run([sys.executable, "-m", module, "--check"], capture_output=True, text=True)
    assert r.returncode == 0, f"{module} output is stale: run `make gen`\n{r.stderr}"


def test_core_uses_the_core_decorator():
    """Every jitted core function goes through armvirt.jit.njit (NRT off: see its docstring);
    a stray numba.njit would bring reference counting back into the hot path."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent / "armvirt"
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "jit.py" and re.search(r"from numba import .*\bnjit\b|numba\.njit",
                                                     p.read_text())]
    assert not offenders, f"use `from armvirt.jit import njit` in: {offenders}"


def test_every_jitted_module_is_in_the_cache_key():
    """The Numba cache directory is keyed on the core's sources only (armvirt/_jitcache.py);
    a jitted module outside that set could run stale machine code after an edit."""
    from armvirt import _jitcache
    keyed = set(_jitcache.core_files())
    users = [p for p in _jitcache.PKG.rglob("*.py")
             if "from armvirt.jit import" in p.read_text() and p.name != "jit.py"]
    assert users and all(p in keyed for p in users), \
        [str(p) for p in users if p not in keyed]
