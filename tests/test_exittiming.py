"""Exit timing (armvirt/hv/exittiming.py, `armvirt run --exit-timing`, `armvirt bench exits`).

The table is built from the exception trace; its counts are checked against an independent
account: the hypervisor's own per-vCPU exit statistics (the firmware counts every exit it
handles, by class, in the vCPU record; armvirt.hv.launch.result reads them back).
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from armvirt.build import BUILD, build_guests
from armvirt.hv.exittiming import ExitClass, ExitTimer, attach
from armvirt.hv.launch import HvConfig, VMConfig, launch, result


@pytest.fixture(scope="module")
def guests():
    build_guests()
    return BUILD / "guests"


def timed_run(image, mode, profile="simple", **vm):
    m, run = launch(HvConfig([VMConfig(str(image), **vm)], mode=mode), uart=lambda d: None,
                    profile=profile)
    t = attach(m)
    info = m.run(max_insns=50_000_000)
    assert info.reason == "system_off"
    return t, result(m, run), m


@pytest.mark.parametrize("mode", ["split", "direct"])
@pytest.mark.parametrize("guest, vm", [("hello.elf", {}), ("vtimer.elf", {}),
                                       ("smp_gic.elf", {"vcpus": 2})])
def test_counts_equal_the_hypervisors_own(guests, mode, guest, vm):
    t, res, _ = timed_run(guests / guest, mode, **vm)
    assert res.ok
    vcpus = [v for r in res.vms for v in r.vcpus]
    # The last exit (PSCI SYSTEM_OFF) never returns to the guest: it is "in progress".
    assert t.count + len(t.in_progress) == sum(v.exits for v in vcpus) > 0
    hvc = sum(v.stats["hvc"] for v in vcpus)
    assert t.classes.get("HVC64", ExitClass()).count + \
        list(t.in_progress.values()).count("HVC64") == hvc
    irq = sum(v.stats["irq"] for v in vcpus)
    assert t.classes.get("IRQ", ExitClass()).count == irq
    for c in t.classes.values():
        assert 0 < c.min <= c.mean <= c.max and c.std >= 0
        assert c.total == round(c.mean * c.count)
    assert sum(t.guest.values()) > 0


def test_direct_exits_are_cheaper_than_split(guests):
    split = timed_run(guests / "hello.elf", "split", "x-gene")[0]
    direct = timed_run(guests / "hello.elf", "direct", "x-gene")[0]
    assert direct.classes["DABT_LOWER"].mean < split.classes["DABT_LOWER"].mean   # UART MMIO


def test_timer_arithmetic():
    from armvirt.cpu.exceptions import TR_EXC_ENTRY, TR_EXC_RETURN
    t = ExitTimer(entry_cost=10)
    hvc = (0x16 << 26)
    # kind, pe, cycles, from, to, esr, elr, far, target, instret, vmid
    t.feed((TR_EXC_RETURN, 0, 100, 2, 1, -1, 0, 0, 0, 0, 1))       # into the guest at 100
    t.feed((TR_EXC_ENTRY, 0, 160, 1, 2, hvc, 0, 0, 0x400, 0, 1))    # HVC at 150
    t.feed((TR_EXC_ENTRY, 0, 200, 1, 2, hvc, 0, 0, 0x400, 0, -1))   # the host's: ignored
    t.feed((TR_EXC_RETURN, 0, 250, 2, 1, -1, 0, 0, 0, 0, 1))        # back at 250: 100 out
    t.feed((TR_EXC_ENTRY, 0, 290, 1, 2, -1, 0, 0, 0x480, 0, 1))     # an IRQ at 280
    t.feed((TR_EXC_RETURN, 0, 580, 2, 1, -1, 0, 0, 0, 0, 1))        # 300 out
    assert t.classes["HVC64"].count == 1 and t.classes["HVC64"].total == 100
    assert t.classes["IRQ"].total == 300
    assert t.guest == {(0, 1): (150 - 100) + (280 - 250)}
    # another VM (VMID 2) runs after VMID 1's next exit: VMID 1 is descheduled until it is back
    t.feed((TR_EXC_ENTRY, 0, 610, 1, 2, hvc, 0, 0, 0x400, 0, 1))    # VMID 1 exits at 600
    t.feed((TR_EXC_RETURN, 0, 700, 2, 1, -1, 0, 0, 0, 0, 2))        # VMID 2 in at 700
    t.feed((TR_EXC_ENTRY, 0, 910, 1, 2, hvc, 0, 0, 0x400, 0, 2))    # VMID 2 exits at 900
    t.feed((TR_EXC_RETURN, 0, 1000, 2, 1, -1, 0, 0, 0, 0, 1))       # VMID 1 back at 1000
    assert t.classes["HVC64"].count == 3 and t.classes["HVC64"].total == 100 + 100 + 100
    assert t.descheduled == {(0, 1): 1000 - 700}
    assert t.guest[(0, 2)] == 900 - 700 and t.guest[(0, 1)] == 80 + (600 - 580)


def test_two_vms_on_one_pe_are_descheduled(guests):
    """Two VMs time-sharing PE 0: each spends time descheduled while the other runs, and the
    counts still match the hypervisor's."""
    m, run = launch(HvConfig([VMConfig(str(guests / "vtimer.elf"), name="a", pin=[0]),
                              VMConfig(str(guests / "vtimer.elf"), name="b", pin=[0])],
                             mode="split"), uart=lambda d: None)
    t = attach(m)
    assert m.run(max_insns=50_000_000).reason == "system_off"
    res = result(m, run)
    assert res.ok
    vcpus = [v for r in res.vms for v in r.vcpus]
    assert t.count + len(t.in_progress) == sum(v.exits for v in vcpus)
    assert len(t.descheduled) == 2 and all(v > 0 for v in t.descheduled.values())


def test_run_exit_timing_prints_the_table(guests):
    r = subprocess.run([sys.executable, "-m", "armvirt.cli", "run", "--exit-timing",
                        "--profile", "x-gene", str(guests / "hello.elf")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "exit timing (cycles, profile x-gene)" in r.stderr
    assert "HVC64" in r.stderr and "in guest" in r.stderr
