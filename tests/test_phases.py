"""Where the cycles go (armvirt/hv/phases.py): the firmware's phase markers and the breakdown of
a hypercall round trip.

The markers are symbols only: both firmware builds must be byte-identical to builds with the
``phase`` macro emptied (so the accounting can never change what it measures). The breakdown
of one ARMVIRT_HC_NOP round trip must cover every cycle of it — the phases sum to the PE's
cycle count across it, measured here independently — with no instruction outside a declared
phase; and under the x-gene profile it must show what Dall et al. (ISCA 2016) found: in split
mode the vGIC state is the largest part, and the direct (Xen-like) design is cheaper.
"""
from __future__ import annotations

import re
import shutil

import pytest

from armvirt.hv import abi
from armvirt.hv.phases import (GUEST, TRAP, UNMARKED, PhaseError, PhaseMap,
                               format_breakdown, hypercall_breakdown)


@pytest.fixture(scope="module")
def breakdowns(tmp_path_factory):
    out = {}
    for profile in ("simple", "x-gene"):
        for mode in ("split", "direct"):
            out[profile, mode] = hypercall_breakdown(
                mode, profile, tmp_path_factory.mktemp(f"{profile}-{mode}"))
    return out


@pytest.mark.parametrize("profile", ["simple", "x-gene"])
@pytest.mark.parametrize("mode", ["split", "direct"])
def test_phases_of_a_hypercall_sum_to_its_cycles(breakdowns, profile, mode):
    b = breakdowns[profile, mode]
    assert b.end - b.start == b.total == sum(b.cycles.values()) > 0
    assert b.phase(UNMARKED) == 0, "firmware code outside every declared phase"
    assert b.phase(GUEST) == 0          # from the HVC to the next guest instruction
    assert b.phase(TRAP) > 0 and b.phase("dispatch") > 0 and b.phase("handler") > 0


def test_split_switches_state_and_direct_does_not(breakdowns):
    for profile in ("simple", "x-gene"):
        split, direct = breakdowns[profile, "split"], breakdowns[profile, "direct"]
        for g in ("el1", "vgic", "timer", "el2", "stage2"):
            assert split.phase(g, "save") > 0 and split.phase(g, "restore") > 0, g
            assert direct.phase(g) == 0, g
        assert direct.total < split.total


def test_vgic_state_is_the_largest_phase_of_split_under_x_gene(breakdowns):
    """ISCA 2016's finding, measured: the vGIC registers' save is the largest single entry of
    the split build's hypercall breakdown (groups x save/restore and the other phases)."""
    b = breakdowns["x-gene", "split"]
    entries = {(p, d): v for (p, d), v in b.cycles.items()}
    assert max(entries, key=entries.get) == ("vgic", "save")
    groups = {g: b.phase(g) for g in abi.PHASE_GROUPS}
    assert max(groups, key=groups.get) in ("vgic", "el1")


def test_breakdown_is_deterministic(breakdowns, tmp_path):
    again = hypercall_breakdown("split", "x-gene", tmp_path)
    assert again.cycles == breakdowns["x-gene", "split"].cycles


def test_format_has_save_and_restore_columns(breakdowns):
    text = format_breakdown({"split": breakdowns["simple", "split"],
                             "direct": breakdowns["simple", "direct"]})
    assert "split save" in text and "direct restore" in text and "vGIC regs" in text
    total = breakdowns["simple", "split"].total
    assert f"{total:,}" in text.splitlines()[-1]


def test_markers_are_validated():
    with pytest.raises(PhaseError, match="not a phase"):
        PhaseMap.from_symbols({"$phase.nonsense.run.1": 0x100})
    with pytest.raises(PhaseError, match="no phase"):
        PhaseMap.from_symbols({"hv_end": 0x100})
    m = PhaseMap.from_symbols({"$phase.gp.save.1": 0x100, "$phase.vgic.restore.2": 0x200,
                               "hv_end": 0x300})
    assert m.phase_of(0xFC)[0] == UNMARKED and m.phase_of(0x300)[0] == UNMARKED
    assert m.phase_of(0x100) == ("gp", "save") and m.phase_of(0x1FC) == ("gp", "save")
    assert m.phase_of(0x200) == ("vgic", "restore")


@pytest.mark.parametrize("mode", ["split", "direct"])
def test_markers_change_no_byte_of_the_firmware(tmp_path, mode):
    """Build the firmware again with ``phase`` defined as nothing: the same bytes."""
    from armvirt import build
    from armvirt.hv.launch import ensure_firmware
    marked = ensure_firmware(mode).with_suffix(".bin").read_bytes()
    fw = tmp_path / "firmware"
    shutil.copytree(build.FIRMWARE, fw)
    h = fw / "include" / "hv_abi.h"
    text = h.read_text()
    text, n = re.subn(r"\.macro phase name, dir=run\n\$phase[^\n]*\n\.endm",
                      ".macro phase name, dir=run\n.endm", text)
    assert n == 1
    h.write_text(text)
    elf = build.build_guest(fw / "hv.S", tmp_path / "out", base=abi.HV_BASE,
                            defines={f"HV_{mode.upper()}": 1},
                            name=f"hv-{mode}", include_dirs=[fw, fw / "include"])
    assert elf.with_suffix(".bin").read_bytes() == marked
    syms = PhaseMap.from_elf(ensure_firmware(mode))
    assert len(syms.markers) > 20


def test_markers_are_invisible_to_symbolizers():
    """The debugger and read_elf skip '$' names: a backtrace through __kvm_vcpu_run still
    says __kvm_vcpu_run, not the marker before the return address."""
    from armvirt.debug.symbols import SymbolTable
    from armvirt.hv.launch import ensure_firmware
    from armvirt.loader import read_elf
    elf = ensure_firmware("split")
    assert not any(n.startswith("$") for n in read_elf(elf.read_bytes(), str(elf)).symbols)
    st = SymbolTable()
    st.add_elf(elf)
    marks = PhaseMap.from_elf(elf)
    for addr, _, _ in marks.markers:
        assert "phase" not in st.describe(addr + 4)
    assert not any(n.startswith("$") for n in st.names())
