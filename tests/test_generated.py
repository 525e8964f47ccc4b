"""Generated files are committed next to their generators: fail when they are stale."""
import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["armvirt.gen_layout", "armvirt.isa.gen_decoder"])
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
