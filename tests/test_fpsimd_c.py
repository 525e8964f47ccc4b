"""guests/fpsimd.c, a C guest built with clang -O2 (vectorised string functions and loops, FP
formatting), on the bare board and under both hypervisor builds.

The expected output is computed here in Python from the program's own algorithms (IEEE double
arithmetic is Python's float; the float loop is replayed in binary32 with numpy), and it is
compared with qemu-system-aarch64 when that is installed.
"""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, fpsimd_unimplemented, require_tool


def fixed(x: float, decimals: int) -> str:
    """put_fixed() of fpsimd.c: round half away from zero at ``decimals``."""
    sign = "-" if x < 0 else ""
    x = abs(x)
    scale = 1.0
    for _ in range(decimals):
        scale *= 10.0
    v = x * scale
    r = float(math.floor(v))
    if v - r >= 0.5:             # exact: v - floor(v) of a double is representable
        r += 1.0
    whole = int(r / scale)
    frac = int(r - float(whole) * scale)
    return f"{sign}{whole}" + (f".{frac:0{decimals}d}" if decimals else "")


def exp(x: float) -> str:
    sign = "-" if x < 0 else ""
    x = abs(x)
    e = 0
    while x >= 10.0:
        x /= 10.0
        e += 1
    while x < 1.0:
        x *= 10.0
        e -= 1
    return f"{sign}{fixed(x, 6)}e{'-' if e < 0 else '+'}{abs(e):02d}"


def expected() -> str:
    lcg = 12345

    def rnd():
        nonlocal lcg
        lcg = (lcg * 1103515245 + 12345) & 0xFFFFFFFF
        return lcg >> 8
    ia, ib = [], []
    for _ in range(1024):
        ia.append(rnd() % 2001 - 1000)
        ib.append(rnd() % 65536)
    ic = [a * 3 + b for a, b in zip(ia, ib)]
    fa = np.array([np.float32(i) * np.float32(0.25) - np.float32(10) for i in range(256)],
                  dtype=np.float32)
    fb = np.array([np.float32(1) / np.float32(i + 1) for i in range(256)], dtype=np.float32)
    # clang vectorises nothing of a float reduction without -ffast-math: the sum is sequential
    dot = np.float32(0)
    for a, b in zip(fa, fb):
        dot = np.float32(dot + np.float32(a * b))
    pi = 0.0
    for k in range(100000):
        pi += (-4.0 if k & 1 else 4.0) / (2 * k + 1)
    h = 0.0
    for n in range(1, 1001):
        h += 1.0 / n
    u = int(np.float32(h * 1e9))
    return ("fpsimd demo\n"
            "strlen 511 memcmp 0 -1\n"
            f"int sum {sum(ic)} max {max(ic)}\n"
            f"dot {fixed(float(dot), 5)}\n"
            f"pi {fixed(pi, 8)} sqrt2 {fixed(math.sqrt(2.0), 12)} e {exp(1.0 / 3.0e-7)}\n"
            f"harmonic {exp(h)} int {int(h * -1000.0)} u {u:x}\n"
            "done\n")


def armvirt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "armvirt.cli", "run", *args],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)


@pytest.mark.parametrize("how", [["--bare"], ["--hv", "split"], ["--hv", "direct"]])
def test_c_program_with_fp_and_simd(guests_dir, how):
    r = armvirt(*how, "--trace", "unimp", str(guests_dir / "fpsimd.elf"))
    assert r.stdout == expected(), r.stderr[-3000:]
    assert r.returncode == 0
    assert fpsimd_unimplemented(r.stderr) == []


def test_c_program_same_as_qemu(guests_dir):
    qemu = require_tool("qemu-system-aarch64")
    q = subprocess.run([qemu, "-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-nographic",
                        "-no-reboot", "-kernel", str(guests_dir / "fpsimd.elf")],
                       capture_output=True, text=True, timeout=120)
    assert q.stdout.replace("\r\n", "\n") == expected()
