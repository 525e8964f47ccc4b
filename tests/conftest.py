"""Shared fixtures: built guests, optional external tools."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

# The first call of a jitted function compiles it: per-example deadlines would only measure
# Numba. CI runs derandomized so a red build is reproducible from its log.
settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def guests_dir() -> Path:
    """The assembled guests (built once per test session into build/guests)."""
    from armvirt.build import build_guests
    out = ROOT / "build" / "guests"
    build_guests(out)
    return out


def require_tool(name: str) -> str:
    """Path of an optional external tool, or skip the test saying why."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (optional; CI installs it from Debian)")
    return path


def fpsimd_unimplemented(stderr: str) -> list[str]:
    """Pattern names of SIMD&FP instructions in a ``--trace unimp`` report (the ops of the
    decode table's fpsimd unit)."""
    from armvirt.isa import _decoder as D
    from armvirt.isa import _dispatch as X
    names = {D.OP_NAMES[op] for op in range(X.FIRST_FPSIMD_OP, D.NUM_OPS)}
    return [line.split()[0] for line in stderr.splitlines()
            if line.startswith("  ") and line.split()[0] in names]
