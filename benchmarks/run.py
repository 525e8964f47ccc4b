"""armvirt's throughput benchmarks: MIPS per workload, cold/warm start, and the same images on
QEMU TCG and unicorn in the same run when they are installed.

    python -m benchmarks.run [--json FILE] [--only alu,ldst,chase/s12] [--no-start]

Workloads run with translation off, and as ``name/s1`` (EL1 stage 1, 4 KiB pages) and
``name/s12`` (stage 1 + stage 2 with 2 MiB blocks, under a small EL2 set-up; ``name/s12p``: stage
2 in 4 KiB pages, for ``armvirt bench overhead``): the table shows
each variant's MIPS against the MMU-off run, its TLB misses and the descriptor reads per miss
(the cost of the two-dimensional walk that virtualization adds).

Besides the single-PE throughput workloads, ``irq`` (benchmarks/workloads/irq.S) measures an
interrupt-heavy two-PE guest: interrupts taken per second of host time, and MIPS.

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
         "calls": (50_000, 1_500_000), "chase": (10_000, 400_000), "fp": (20_000, 600_000),
         "simd": (100, 10_000)}
# Translation variants: "name/s1" runs with EL1 stage 1 on (4 KiB pages), "name/s12" with
# stage 1 and stage 2 (2 MiB blocks); both entered at EL2 (workloads/prologue.inc).
MMU_VARIANTS = {"": None, "s1": 1, "s12": 2, "s12p": 3}   # s12p: stage 2 in 4 KiB pages
DEFAULT = ["alu", "ldst", "branchy", "calls", "chase", "fp", "alu/s1", "alu/s12", "ldst/s1",
           "ldst/s12", "chase/s1", "chase/s12", "simd"]


def split(name: str) -> tuple[str, int | None]:
    base, _, variant = name.partition("/")
    return base, MMU_VARIANTS[variant]


def build(name: str, iters: int) -> Path:
    from armvirt.build import build_guest
    base, mmu = split(name)
    defines = {"ITERS": iters, **({"MMU": mmu} if mmu else {})}
    elf = build_guest(WORKLOADS / f"{base}.S", OUT, defines=defines,
                      name=f"{name.replace('/', '-')}-{iters}")
    _MMU[elf] = mmu
    return elf


_MMU: dict[Path, int | None] = {}   # built image -> its translation variant (entered at EL2)


def _mmu_of(elf: Path) -> int | None:
    return _MMU.get(elf)


def run_armvirt(elf: Path, stats: dict | None = None) -> tuple[int, float]:
    from armvirt.loader import load_image
    from armvirt.machine import Machine
    el = 2 if _mmu_of(elf) else 1
    m = Machine(ram_size=64 << 20, psci_conduit="smc" if el == 2 else "hvc")
    load_image(m, elf, el=el)
    t = time.perf_counter()
    info = m.run(max_insns=2_000_000_000)  # a broken workload fails instead of spinning
    dt = time.perf_counter() - t
    if info.reason != "system_off":
        raise RuntimeError(f"{elf.name}: stopped with {info.reason} {info.detail} at "
                           f"pc 0x{info.pc:x}, ESR_EL1 0x{m.reg('ESR_EL1'):x}")
    if stats is not None:
        stats.update(m.tlb_stats(0))
    return info.instructions, dt


def run_qemu(elf: Path) -> float | None:
    qemu = shutil.which("qemu-system-aarch64")
    if not qemu:
        return None
    machine = "virt,gic-version=3" + (",virtualization=on" if _mmu_of(elf) else "")
    t = time.perf_counter()
    subprocess.run([qemu, "-M", machine, "-cpu", "cortex-a57", "-m", "256M",
                    "-nographic", "-kernel", str(elf)], check=True, timeout=600,
                   stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.perf_counter() - t


def run_unicorn(elf: Path) -> float | None:
    if _mmu_of(elf):
        return None   # unicorn has no EL2 to enter the translation variants at
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
        env = {**os.environ, "ARMVIRT_CACHE_DIR": cache, "ARMVIRT_COMPILE_PROGRESS": "0"}
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
    n_small, n_large = ITERS[split(name)[0]]
    small, large = build(name, n_small), build(name, n_large)
    run_armvirt(small)  # load the compiled core before timing
    i1, i2 = run_armvirt(small)[0], run_armvirt(large)[0]
    # The workloads are loops: instructions(N) = fixed + per_iter * N, exactly.
    per_iter = (i2 - i1) / (n_large - n_small)
    huge_n = n_large * FAST_SCALE
    huge = build(name, huge_n)
    stats: dict = {}
    run_armvirt(large, stats)
    row: dict = {"workload": name, "instructions": i2, "tlb_misses": stats["misses"],
                 "reads_per_miss": round(stats["reads_per_miss"], 2)}

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


def debugger_figures(repeat: int) -> dict:
    """The debugger's costs (issue: seeing inside): the ALU workload with breakpoints and
    watchpoints armed but never hit, against none; single steps per second through
    ``Machine.step``; and ``stepi`` per second through the GDB stub over a socket."""
    import socket
    import threading
    from armvirt import memmap
    from armvirt.debug.gdbstub import GdbServer
    from armvirt.loader import load_image
    from armvirt.machine import Machine

    n_small, n_large = ITERS["alu"]
    small, large = build("alu", n_small), build("alu", n_large)

    run_armvirt(small)  # load the compiled core before timing

    def alu_mips(arm) -> float:
        best = {}
        for elf in (small, large) * repeat:
            m = Machine(ram_size=64 << 20)
            boot = load_image(m, elf)
            arm(m)
            t = time.perf_counter()
            info = m.run(max_insns=2_000_000_000)
            dt = time.perf_counter() - t
            assert info.reason == "system_off", info
            best[elf] = min(best.get(elf, (dt, 0))[0], dt), info.instructions
        (t1, i1), (t2, i2) = best[small], best[large]
        return (i2 - i1) / (t2 - t1) / 1e6

    def arm_unhit(m) -> None:
        for k in range(8):   # code that never runs, and data nobody touches
            m.add_breakpoint(memmap.RAM_BASE + 0x10_0000 + 4 * k)
        for k in range(4):
            m.add_watchpoint(memmap.RAM_BASE + 0x20_0000 + 64 * k, 8, "rw")

    plain = alu_mips(lambda m: None)
    armed = alu_mips(arm_unhit)

    m = Machine(ram_size=64 << 20)
    load_image(m, large)
    m.step(1000)
    t = time.perf_counter()
    for _ in range(20_000):
        m.step(1)
    api_steps = 20_000 / (time.perf_counter() - t)

    m = Machine(ram_size=64 << 20)
    load_image(m, large)
    srv = GdbServer(m)
    srv.listen("tcp::0")
    th = threading.Thread(target=srv.serve, daemon=True)
    th.start()
    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""

    def cmd(payload: str) -> None:
        nonlocal buf
        data = payload.encode()
        sock.sendall(b"$" + data + b"#%02x" % (sum(data) & 0xFF))
        while b"#" not in buf.lstrip(b"+") or len(buf.split(b"#", 1)[1]) < 2:
            buf += sock.recv(4096)
        buf = buf.split(b"#", 1)[1][2:]

    cmd("QStartNoAckMode")
    buf = b""
    n = 3000
    t = time.perf_counter()
    for _ in range(n):
        cmd("vCont;s:1")
    gdb_steps = n / (time.perf_counter() - t)
    cmd("vKill;1")
    sock.close()
    th.join(30)
    srv.close()
    return {"alu_mips_plain": round(plain, 1), "alu_mips_bp_wp_armed": round(armed, 1),
            "armed_ratio": round(armed / plain, 3), "api_steps_per_s": round(api_steps),
            "gdb_stepi_per_s": round(gdb_steps)}


# irq: 2 PEs, SGI ping-pong rounds (small, large); every interrupt counted by the guest in x28
IRQ_ITERS = (2_000, 40_000)


def interrupt_figures(repeat: int) -> dict:
    """The interrupt-heavy workload (benchmarks/workloads/irq.S, two PEs): SGI ping-pong and a
    200-tick periodic timer on each PE. Interrupts taken per second of host time and MIPS, by
    difference between two iteration counts (start-up cancels)."""
    from armvirt.loader import load_image
    from armvirt.machine import Machine

    def once(elf: Path) -> tuple[int, int, float]:
        m = Machine(ram_size=64 << 20, smp=2)
        load_image(m, elf)
        t = time.perf_counter()
        info = m.run(max_insns=2_000_000_000)
        dt = time.perf_counter() - t
        if info.reason != "system_off":
            raise RuntimeError(f"{elf.name}: stopped with {info.reason} {info.detail}")
        return info.instructions, m.reg("x28", 0) + m.reg("x28", 1), dt

    small, large = (build_guest_irq(n) for n in IRQ_ITERS)
    once(small)  # load the compiled core before timing
    best: dict = {}
    for elf in (small, large) * repeat:
        i, irqs, dt = once(elf)
        if elf not in best or dt < best[elf][2]:
            best[elf] = (i, irqs, dt)
    (i1, q1, t1), (i2, q2, t2) = best[small], best[large]
    return {"instructions": i2, "interrupts": q2, "mips": round((i2 - i1) / (t2 - t1) / 1e6, 1),
            "interrupts_per_s": round((q2 - q1) / (t2 - t1))}


def build_guest_irq(iters: int) -> Path:
    return build("irq", iters)


def table(rows: list[dict], starts: dict) -> str:
    def cell(v):
        return "n/a" if v is None else f"{v:,.1f}"

    def ratio(a, b):
        return "n/a" if not a or not b else f"{a / b:.2f}"
    lines = ["| workload | instructions | armvirt MIPS | vs MMU off | TLB misses | reads/miss "
             "| QEMU TCG MIPS | unicorn MIPS | armvirt/QEMU | armvirt/unicorn |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    plain = {r["workload"]: r["armvirt_mips"] for r in rows if "/" not in r["workload"]}
    for r in rows:
        base = plain.get(r["workload"].split("/")[0]) if "/" in r["workload"] else None
        vs = f"{100 * r['armvirt_mips'] / base:.0f}%" if base else ""
        lines.append(f"| {r['workload']} | {r['instructions']:,} | {cell(r['armvirt_mips'])} | "
                     f"{vs} | {r['tlb_misses']:,} | {r['reads_per_miss']:.2f} | "
                     f"{cell(r['qemu_tcg_mips'])} | {cell(r['unicorn_mips'])} | "
                     f"{ratio(r['armvirt_mips'], r['qemu_tcg_mips'])} | "
                     f"{ratio(r['armvirt_mips'], r['unicorn_mips'])} |")
    if starts:
        lines.append("")
        lines.append(f"Start-up (boot guests/hello in a new process): cold (empty Numba cache) "
                     f"{starts['cold_start_s']} s, warm {starts['warm_start_s']} s.")
    return "\n".join(lines)


_T0 = time.monotonic()


def say(msg: str) -> None:
    """One progress line per measurement on stderr (the tables go to stdout at the end)."""
    print(f"bench [{time.monotonic() - _T0:5.0f} s] {msg}", file=sys.stderr, flush=True)


def _fig(v, unit: str = "MIPS") -> str:
    return "n/a" if v is None else f"{v:,} {unit}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(DEFAULT),
                    help="comma-separated workloads; name/s1 and name/s12 turn on translation")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    ap.add_argument("--no-start", action="store_true", help="skip cold/warm start timing")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    for n in names:
        base, _, variant = n.partition("/")
        if base not in ITERS or variant not in MMU_VARIANTS:
            ap.error(f"unknown workload {n!r} (known: {', '.join(ITERS)}, each optionally "
                     f"with /s1 or /s12)")
    rows = []
    for i, n in enumerate(names, 1):
        say(f"{i}/{len(names)} {n} ...")
        rows.append(measure(n, args.repeat))
        r = rows[-1]
        say(f"{i}/{len(names)} {n}: armvirt {_fig(r['armvirt_mips'])}, QEMU TCG "
            f"{_fig(r['qemu_tcg_mips'])}, unicorn {_fig(r['unicorn_mips'])}")
    say("interrupts (irq workload, 2 PEs) ...")
    irq = interrupt_figures(args.repeat)
    say(f"interrupts: {irq['interrupts_per_s']:,} per host second, {irq['mips']:,.1f} MIPS")
    say("debugger costs ...")
    dbg = debugger_figures(args.repeat)
    say(f"debugger: armed-never-hit {100 * dbg['armed_ratio']:.0f}% of plain MIPS, "
        f"GDB stub stepi {dbg['gdb_stepi_per_s']:,}/s")
    starts = {}
    if not args.no_start:
        say("start-up: cold (an empty compile cache: the core compiles, minutes) and warm ...")
        starts = start_times()
        say(f"start-up: cold {starts['cold_start_s']} s, warm {starts['warm_start_s']} s")
    print(table(rows, starts))
    print(f"Interrupts (irq: 2 PEs, SGI ping-pong and 200-tick timers; {irq['interrupts']:,} "
          f"interrupts in {irq['instructions']:,} instructions): "
          f"{irq['interrupts_per_s']:,} interrupts per host second, {irq['mips']:,.1f} MIPS.")
    print(f"Debugger: ALU with 8 breakpoints and 4 watchpoints armed, never hit: "
          f"{dbg['alu_mips_bp_wp_armed']:,.1f} MIPS vs {dbg['alu_mips_plain']:,.1f} "
          f"({100 * dbg['armed_ratio']:.0f}%); Machine.step(1): {dbg['api_steps_per_s']:,} "
          f"steps/s; stepi through the GDB stub (socket, no-ack): {dbg['gdb_stepi_per_s']:,}/s.")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "debugger": dbg, "irq": irq,
                                               **starts},
                                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
