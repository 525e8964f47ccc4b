"""armvirt's throughput benchmarks: MIPS per workload, cold/warm start, and the same images on
QEMU TCG and unicorn in the same run when they are installed.

    python -m benchmarks.run [--quick] [--json FILE] [--only alu,ldst]

MIPS is measured by difference: each workload is built for two iteration counts and
``(instructions(N2) - instructions(N1)) / (time(N2) - time(N1))``, so boot, image loading and
process start-up (QEMU's included) cancel out. Instruction counts come from armvirt (the images
are deterministic, so every engine executes the same instruction stream, and a loop's count is
exactly linear in its iterations); times are the best of ``--repeat`` runs. QEMU and unicorn
get ``FAST_SCALE`` times more iterations so their timed part dwarfs their start-up noise. Cold start is a fresh process with an empty Numba cache booting
``guests/hello``; warm start is the same with the cache filled.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ROOT / "benchmarks" / "workloads"
OUT = ROOT / "build" / "bench"

# iterations (small, large) per workload: the large run is ~20-40 M instructions
ITERS = {"alu": (50_000, 3_000_000), "ldst": (100, 4_000), "branchy": (50_000, 2_500_000),
         "calls": (50_000, 1_500_000)}


def build(name: str, iters: int) -> Path:
    from armvirt.build import build_guest
    return build_guest(WORKLOADS / f"{name}.S", OUT, defines={"ITERS": iters},
                       name=f"{name}-{iters}")


def run_armvirt(elf: Path) -> tuple[int, float]:
    from armvirt.loader import load_image
    from armvirt.machine import Machine
    m = Machine(ram_size=64 << 20)
    load_image(m, elf)
    t = time.perf_counter()
    info = m.run(max_insns=2_000_000_000)  # a broken workload fails instead of spinning
    dt = time.perf_counter() - t
    if info.reason != "system_off":
        raise RuntimeError(f"{elf.name}: stopped with {info.reason} {info.detail} at "
                           f"pc 0x{info.pc:x}, ESR_EL1 0x{m.reg('ESR_EL1'):x}")
    return info.instructions, dt


def run_qemu(elf: Path) -> float | None:
    qemu = shutil.which("qemu-system-aarch64")
    if not qemu:
        return None
    t = time.perf_counter()
    subprocess.run([qemu, "-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-m", "256M",
                    "-nographic", "-kernel", str(elf)], check=True, timeout=600,
                   stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.perf_counter() - t


def run_unicorn(elf: Path) -> float | None:
    try:
        import unicorn
        from unicorn import arm64_const as A
    except ImportError:
        return None
    from elftools.elf.elffile import ELFFile
    from armvirt import memmap
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM)
    uc.mem_map(memmap.RAM_BASE, 64 << 20)
    with open(elf, "rb") as f:
        e = ELFFile(f)
        for seg in e.iter_segments():
            if seg["p_type"] == "PT_LOAD":
                uc.mem_write(seg["p_paddr"], seg.data())
        entry = e["e_entry"]
        code = b"".join(s.data() for s in e.iter_segments() if s["p_type"] == "PT_LOAD")
    # Stop at the PSCI call: the first `hvc #0` (0xd4000002) of the image.
    hvc = code.find((0xD4000002).to_bytes(4, "little"))
    t = time.perf_counter()
    uc.emu_start(entry, memmap.RAM_BASE + hvc)
    return time.perf_counter() - t


def start_times() -> dict[str, float]:
    """Cold (empty cache) and warm start: a new process that boots guests/hello."""
    from armvirt.build import build_guests
    hello = [p for p in build_guests() if p.stem == "hello"][0]
    code = ("import sys; from armvirt.machine import Machine; from armvirt.loader import "
            "load_image; m = Machine(); load_image(m, sys.argv[1]); "
            "assert m.run().reason == 'system_off'")
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "ARMVIRT_CACHE_DIR": cache}
        env.pop("NUMBA_CACHE_DIR", None)
        for label in ("cold_start_s", "warm_start_s"):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code, str(hello)], env=env, check=True)
            out[label] = round(time.perf_counter() - t, 2)
    return out


# QEMU and unicorn translate the loop to host code and run it 10-50x faster than armvirt: they
# get this many times more iterations, so that their run is long against process start-up.
FAST_SCALE = 40


def measure(name: str, repeat: int) -> dict:
    n_small, n_large = ITERS[name]
    small, large = build(name, n_small), build(name, n_large)
    run_armvirt(small)  # load the compiled core before timing
    i1, i2 = run_armvirt(small)[0], run_armvirt(large)[0]
    # The workloads are loops: instructions(N) = fixed + per_iter * N, exactly.
    per_iter = (i2 - i1) / (n_large - n_small)
    huge_n = n_large * FAST_SCALE
    huge = build(name, huge_n)
    row: dict = {"workload": name, "instructions": i2}

    def mips(fn, lo, hi, n_lo, n_hi) -> float | None:
        best_lo = best_hi = None
        for _ in range(repeat):
            a, b = fn(lo), fn(hi)
            if a is None or b is None:
                return None
            best_lo = a if best_lo is None else min(best_lo, a)
            best_hi = b if best_hi is None else min(best_hi, b)
        return round(per_iter * (n_hi - n_lo) / max(best_hi - best_lo, 1e-9) / 1e6, 1)

    row["armvirt_mips"] = mips(lambda elf: run_armvirt(elf)[1], small, large, n_small, n_large)
    row["qemu_tcg_mips"] = mips(run_qemu, small, huge, n_small, huge_n)
    row["unicorn_mips"] = mips(run_unicorn, small, huge, n_small, huge_n)
    return row


def table(rows: list[dict], starts: dict) -> str:
    def cell(v):
        return "n/a" if v is None else f"{v:,.1f}"

    def ratio(a, b):
        return "n/a" if not a or not b else f"{a / b:.2f}"
    lines = ["| workload | instructions | armvirt MIPS | QEMU TCG MIPS | unicorn MIPS | "
             "armvirt/QEMU | armvirt/unicorn |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['workload']} | {r['instructions']:,} | {cell(r['armvirt_mips'])} | "
                     f"{cell(r['qemu_tcg_mips'])} | {cell(r['unicorn_mips'])} | "
                     f"{ratio(r['armvirt_mips'], r['qemu_tcg_mips'])} | "
                     f"{ratio(r['armvirt_mips'], r['unicorn_mips'])} |")
    if starts:
        lines.append("")
        lines.append(f"Start-up (boot guests/hello in a new process): cold (empty Numba cache) "
                     f"{starts['cold_start_s']} s, warm {starts['warm_start_s']} s.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(ITERS), help="comma-separated workloads")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    ap.add_argument("--no-start", action="store_true", help="skip cold/warm start timing")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    for n in names:
        if n not in ITERS:
            ap.error(f"unknown workload {n!r} (known: {', '.join(ITERS)})")
    rows = [measure(n, args.repeat) for n in names]
    starts = {} if args.no_start else start_times()
    print(table(rows, starts))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, **starts}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
