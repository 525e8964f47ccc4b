"""The compile cache is keyed on the sources' content, not on their path (armvirt/_jitcache.py):
a second checkout elsewhere reuses what the first compiled, and a cold compile says what it
does on stderr (armvirt/jitprogress.py). A small jitted module stands in for the core, which
takes minutes to compile."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "armvirt"

PROBE = '''
from armvirt.jit import njit


@njit
def triple_sum(n):
    s = 0
    for i in range(n):
        s += 3 * i
    return s
'''

SCRIPT = """
import armvirt, armvirt._cacheprobe as p
assert armvirt.__file__.startswith({where!r}), armvirt.__file__
assert p.triple_sum(10) == 135
st = p.triple_sum.stats
print(sum(st.cache_hits.values()), sum(st.cache_misses.values()))
"""


def checkout(where: Path) -> Path:
    shutil.copytree(PKG, where / "armvirt", ignore=shutil.ignore_patterns("__pycache__"))
    (where / "armvirt" / "_cacheprobe.py").write_text(PROBE)
    return where


def run(where: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(ARMVIRT_CACHE_DIR=str(cache), PYTHONPATH=str(where))
    return subprocess.run([sys.executable, "-c", SCRIPT.format(where=str(where))], cwd=where,
                          env=env, capture_output=True, text=True, timeout=300)


def test_a_second_checkout_in_another_path_reuses_the_compile_cache(tmp_path):
    cache = tmp_path / "cache"
    a = checkout(tmp_path / "clone-a")
    b = checkout(tmp_path / "elsewhere" / "clone-b")
    os.utime(b / "armvirt" / "_cacheprobe.py", (1_000_000_000, 1_000_000_000))  # other mtime
    first = run(a, cache)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["0", "1"]                  # compiled: one cache miss
    # the cold compile talks, on stderr: what it compiles, how far, how long is left
    assert "armvirt: compiling the emulator core with Numba" in first.stderr
    assert "] _cacheprobe.triple_sum (" in first.stderr and "s left" in first.stderr
    second = run(b, cache)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["1", "0"]                 # loaded from the first's cache
    assert "compiling" not in second.stderr                    # nothing compiled, nothing said
    # an edit is a different content: compiled again
    (b / "armvirt" / "_cacheprobe.py").write_text(PROBE.replace("3 * i", "i * 3"))
    third = run(b, cache)
    assert third.stdout.split() == ["0", "1"], third.stderr
