"""Traces (issue 17): `--trace insn`, text or Perfetto by --trace-file's extension, filters, and
the worlds (hypervisor, host part, VMs) in exception traces and Perfetto tracks."""
from __future__ import annotations

import json
import re
import subprocess
import sys

from armvirt import layout as L
from armvirt.debug.symbols import SymbolTable
from armvirt.loader import load_image
from armvirt.machine import Machine
from conftest import ROOT

LINE = re.compile(r"^\[\s*(\d+)\] PE(\d+)(?: (\[[^\]]+\]))? EL(\d) 0x([0-9a-f]+)(?: <([^>]+)>)?"
                  r"  (.*?)  \| (.*)$")


def armvirt(*args: str):
    return subprocess.run([sys.executable, "-m", "armvirt.cli", *args], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)


def parse(text: str) -> list[re.Match]:
    rows = [LINE.match(line) for line in text.splitlines()]
    assert rows and all(rows), text[:2000]
    return rows


def step_loop_pcs(image: str) -> list[int]:
    """The oracle: what a Machine.step loop retires, one step at a time."""
    m = Machine()
    load_image(m, image)
    pcs = []
    while True:
        pc, n = m.reg("pc"), int(m.cpus[0][L.INSTRET])
        info = m.step(1)
        if int(m.cpus[0][L.INSTRET]) != n:
            pcs.append(pc)
        if info.reason != "budget":
            return pcs


def test_trace_insn_matches_a_machine_step_loop(guests_dir, tmp_path):
    image = str(guests_dir / "hello.elf")
    out = tmp_path / "insn.txt"
    r = armvirt("run", "--bare", image, "--trace", "insn", "--trace-file", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Hello from armvirt!\n"
    rows = parse(out.read_text())
    assert [int(x.group(5), 16) for x in rows] == step_loop_pcs(image)
    first = rows[0]
    assert first.group(6) == "_start" and first.group(7).startswith("mov\tx1, #0x9000000")
    assert first.group(8) == "x1=0x9000000"
    ldrb = next(x for x in rows if x.group(7).startswith("ldrb"))
    assert re.fullmatch(r"x2=0x[0-9a-f]+ x3=0x48", ldrb.group(8)), ldrb.group(0)   # 'H'
    assert any(x.group(8) == "pc only" for x in rows)            # the branch back
    cbz = [x for x in rows if x.group(7).startswith("cbz")]
    assert cbz and all(x.group(8) == "pc only" for x in cbz)


def test_trace_insn_of_one_vm_under_the_hypervisor(guests_dir, tmp_path):
    image = str(guests_dir / "hello.elf")
    out = tmp_path / "insn.log"
    r = armvirt("run", image, "--hv", "direct", "--trace", "insn", "--trace-vm", "vm0",
                "--trace-file", str(out))
    assert r.returncode == 0, r.stderr
    rows = parse(out.read_text())
    assert {x.group(3) for x in rows} == {"[vm0 vcpu0]"}
    assert {x.group(4) for x in rows} == {"1"}
    # The guest retires the same instructions as on the bare board, up to its HVC (which
    # the hypervisor handles instead of the board's PSCI).
    bare = step_loop_pcs(image)
    assert [int(x.group(5), 16) for x in rows] == bare
    assert rows[0].group(6) == "_start" and rows[-1].group(7).startswith("hvc")


def test_an_exception_is_traced_after_the_instruction_that_took_it(guests_dir, tmp_path):
    image = str(guests_dir / "hello.elf")
    out = tmp_path / "both.log"
    r = armvirt("run", image, "--hv", "direct", "--trace", "insn,exc", "--trace-vm", "vm0",
                "--trace-file", str(out))
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    strb = next(i for i, t in enumerate(lines) if "strb\tw3, [x1]" in t)
    assert "exception EL1->EL2 data abort" in lines[strb + 1], lines[strb:strb + 2]
    assert "eret EL2->EL1 to 0x40000014" in lines[strb + 2], lines[strb:strb + 3]


def test_trace_range_traces_only_that_range(guests_dir, tmp_path):
    image = str(guests_dir / "hello.elf")
    start = SymbolTable.from_elf(image).lookup("_start")
    lo, hi = start + 8, start + 24           # the print loop: ldrb, cbz, strb, b
    out = tmp_path / "range.txt"
    r = armvirt("run", "--bare", image, "--trace", "insn", "--trace-range",
                f"{lo:#x}-{hi:#x}", "--trace-file", str(out))
    assert r.returncode == 0, r.stderr
    pcs = [int(x.group(5), 16) for x in parse(out.read_text())]
    assert pcs == [pc for pc in step_loop_pcs(image) if lo <= pc < hi]
    assert len(pcs) == 4 * len("Hello from armvirt!\n") + 2


def test_exception_trace_names_worlds_and_symbols(guests_dir, tmp_path):
    image = str(guests_dir / "hello.elf")
    out = tmp_path / "exc.txt"
    r = armvirt("run", image, "--hv", "split", "--trace", "exc", "--trace-file", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert re.search(r"PE0 \[vm0 vcpu0\] exception EL1->EL2 data abort \(lower EL\) \(EC 0x24\)"
                     r" ESR=0x\w+ ELR=0x40000010 <_start\+16> .* vector=0x\w+ "
                     r"<__guest_vectors\+1024>", text), text[:3000]
    assert re.search(r"PE0 \[host\] exception EL1->EL2 HVC", text), text[:3000]
    assert re.search(r"PE0 \[vm0 vcpu0\] eret EL2->EL1 to 0x40000014 <_start\+20>", text), \
        text[:3000]


def test_perfetto_tracks_per_world(guests_dir, tmp_path):
    image = str(guests_dir / "hello.elf")
    out = tmp_path / "t.json"
    r = armvirt("run", image, "--hv", "split", "--trace-file", str(out))
    assert r.returncode == 0, r.stderr
    evs = json.loads(out.read_text())["traceEvents"]
    procs = {e["pid"]: e["args"]["name"] for e in evs if e.get("name") == "process_name"}
    assert procs[0] == "armvirt"
    assert "hypervisor (EL2)" in procs.values() and "host part (EL1)" in procs.values()
    vm_pid = next(p for p, n in procs.items() if n.startswith("VM vm0"))
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in evs
               if e.get("name") == "thread_name"}
    assert threads[(vm_pid, 0)] == "vcpu0"
    world = [e for e in evs if e.get("cat") == "world"]
    assert any(e["pid"] == vm_pid and e["name"].startswith("EL1 _start") for e in world)
    assert any(e["name"].startswith("EL2 __guest_vectors") for e in world)
    inst = [e for e in evs if e["ph"] == "i" and e["args"].get("world") == "[vm0 vcpu0]"]
    assert any(e["args"].get("elr_symbol") == "_start+16" for e in inst)
    # spans of one track never overlap
    by_track: dict = {}
    for e in world:
        by_track.setdefault((e["pid"], e["tid"]), []).append(e)
    for spans in by_track.values():
        spans.sort(key=lambda e: e["ts"])
        for a, b in zip(spans, spans[1:]):
            assert a["ts"] + a["dur"] <= b["ts"] + 1e-6


def test_trace_options_bad_input_is_one_line(guests_dir):
    image = str(guests_dir / "hello.elf")
    for args in (["--trace-range", "0x10-0x5"], ["--trace", "insn", "--trace-range", "zz"],
                 ["--trace", "insn", "--trace-vm", "nosuch"]):
        r = armvirt("run", image, *args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_trace_mmu_shows_each_abort_with_its_walk(guests_dir, tmp_path):
    """hello's UART store under the hypervisor: a stage 2 translation fault at level 1 (the
    UART's IPA is not mapped: the hypervisor emulates it), walked in the guest's regime."""
    image = str(guests_dir / "hello.elf")
    out = tmp_path / "mmu.txt"
    r = armvirt("run", image, "--hv", "direct", "--trace", "mmu", "--trace-file", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    heads = [l for l in text.splitlines() if not l.startswith(" ")]
    assert len(heads) == len("Hello from armvirt!\n")             # one abort per byte
    assert all(re.search(r"PE0 \[vm0 vcpu0\] data abort \(lower EL\) to EL2 at 0x40000010 "
                         r"<_start\+16>: write of 0x9000000$", h) for h in heads), heads[:2]
    assert "=> translation fault, level 1, stage 2, IPA 0x9000000 (FSC 0x05)" in text, text[:800]
