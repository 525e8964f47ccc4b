"""Guards against nonsense: a file that is not a kernel, a guest that is stuck.

* A file that is neither an AArch64 ELF nor an arm64 ``Image`` is refused in one line (exit
  status 2) unless ``--load-addr`` (``load-addr=``/``kind=raw`` for a VM) says it is a raw
  binary: run as code, a text file only faults, and under the hypervisor it printed a million
  identical abort messages a minute (those are now counted: tests/test_console.py).
* A PE spinning in a few instructions with IRQs and FIQs masked is reported on stderr once it
  has done so for ``Machine.STUCK_INSNS`` instructions; a PE that can take interrupts is not.
"""
from __future__ import annotations

import re
import subprocess
import sys

from armvirt import memmap
from armvirt.build import assemble
from conftest import ROOT


def armvirt(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "armvirt.cli", "run", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          stdin=subprocess.DEVNULL)


def test_a_text_file_is_not_a_kernel(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("These are my notes, not a kernel.\n" * 20)
    for args in (["--bare", notes], [notes], ["--vm", f"{notes},mem=8M"]):
        r = armvirt(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "neither an AArch64 ELF file nor an arm64 Linux Image (it looks like text)" \
            in r.stderr, r.stderr
    gz = tmp_path / "Image.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00" + bytes(100))
    r = armvirt("--bare", gz)
    assert r.returncode == 2 and "gzip-compressed: decompress it first" in r.stderr, r.stderr
    # Said to be raw: it is loaded and run (and faults, architecturally).
    r = armvirt("--bare", notes, "--load-addr", hex(memmap.RAM_BASE), "--max-insns", "10000")
    assert r.returncode in (1, 3) and "Traceback" not in r.stderr, r.stderr


def spin(tmp_path, unmask: bool):
    src = ("msr daifclr, #3\n" if unmask else "") + "1: add x0, x0, #1\n b 1b\n"
    path = tmp_path / f"spin{int(unmask)}.bin"
    path.write_bytes(assemble(src, memmap.RAM_BASE).code)
    return armvirt("--bare", path, "--load-addr", hex(memmap.RAM_BASE), "--max-insns",
                   "700000000")


def test_a_masked_spin_is_reported(tmp_path):
    r = spin(tmp_path, unmask=False)
    assert r.returncode == 3, r.stderr
    reports = [line for line in r.stderr.splitlines() if "looks stuck" in line]
    assert len(reports) == 1, r.stderr
    assert re.search(r"PE0 looks stuck: \d+ instructions at EL1 with every sampled pc in "
                     r"0x4000000[04]\.\.0x4000000[04] and IRQs and FIQs masked", reports[0]), \
        reports
    r = spin(tmp_path, unmask=True)
    assert r.returncode == 3 and "looks stuck" not in r.stderr, r.stderr
