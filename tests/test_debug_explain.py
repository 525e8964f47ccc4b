"""ESR decoding (armvirt.debug.explain) on syndromes built field by field from the Arm ARM's
ISS encodings, independent of the emulator."""
from __future__ import annotations

import re

import pytest

from armvirt.debug.explain import ec_name, explain_esr, fsc_name, sysreg_from_iss

IL = 1 << 25


def esr(ec: int, iss: int) -> int:
    return (ec << 26) | IL | iss


def field(lines: list[str], name: str) -> tuple[str, str]:
    """(value, meaning) of the row named ``name``."""
    for ln in lines:
        m = re.match(rf"^  {re.escape(name)} +(\S+) +(.*)$", ln)
        if m:
            return m.group(1), m.group(2)
    raise AssertionError(f"no row {name} in {lines}")


def test_data_abort_with_instruction_syndrome_and_ipa():
    # A stage 2 translation fault, level 3, from EL1, on `ldrsh w5, [...]` (acquire): ISV = 1,
    # SAS = 01 (halfword), SSE = 1, SRT = 5, SF = 0, AR = 1, WnR = 0, DFSC = 0b000111.
    iss = (1 << 24) | (1 << 22) | (1 << 21) | (5 << 16) | (0 << 15) | (1 << 14) | 0x07
    far = 0x0000_ffff_8000_1234
    hpfar = (0x8_1234_5 << 4)          # FIPA = IPA[51:12] in HPFAR_EL2[43:4]
    lines = explain_esr(esr(0x24, iss), el=2, far=far, hpfar=hpfar)
    assert lines[0] == f"ESR_EL2 = 0x{esr(0x24, iss):08x}: data abort (lower EL) (EC 0x24)"
    assert field(lines, "EC") == ("0x24", "Data Abort from a lower Exception level")
    assert field(lines, "ISV")[0] == "1"
    assert field(lines, "SAS") == ("1", "halfword access")
    assert field(lines, "SSE") == ("1", "sign-extended")
    assert field(lines, "SRT") == ("5", "transfer register w5")
    assert field(lines, "SF") == ("0", "32-bit register")
    assert field(lines, "AR") == ("1", "acquire/release semantics")
    assert field(lines, "WnR") == ("0", "read")
    assert field(lines, "DFSC") == ("0x07", "Translation fault, level 3")
    assert field(lines, "FAR") == (f"0x{far:x}", "faulting virtual address")
    assert field(lines, "IPA")[0] == f"0x{(0x8_1234_5 << 12) | 0x234:x}"


def test_data_abort_cache_maintenance_s1ptw_and_external_abort():
    iss = (1 << 10) | (1 << 8) | (1 << 7) | (1 << 6) | 0x15     # FnV, CM, S1PTW, WnR, walk L1
    lines = explain_esr(esr(0x25, iss), el=1, far=0x1000)
    assert field(lines, "CM")[0] == "1"
    assert field(lines, "S1PTW") == ("1", "stage 2 fault on a stage 1 translation table walk")
    assert field(lines, "DFSC") == ("0x15", "Synchronous External abort on translation table "
                                            "walk, level 1")
    assert field(lines, "FnV") == ("1", "FAR is not valid")
    assert field(lines, "FAR") == ("0x1000", "not valid (FnV = 1)")
    assert not any(ln.lstrip().startswith("IPA") for ln in lines)   # EL1: no HPFAR


def test_instruction_abort_permission_fault():
    lines = explain_esr(esr(0x21, 0x0F), el=1, far=0x4000_0000)
    assert field(lines, "EC") == ("0x21", "Instruction Abort taken without a change in "
                                          "Exception level")
    assert field(lines, "IFSC") == ("0x0f", "Permission fault, level 3")
    assert not any(ln.lstrip().startswith(("WnR", "CM ")) for ln in lines)


@pytest.mark.parametrize("fsc, text", [
    (0x00, "Address size fault, level 0"), (0x0B, "Access flag fault, level 3"),
    (0x10, "Synchronous External abort, not on translation table walk"),
    (0x21, "Alignment fault"), (0x30, "TLB conflict abort"),
    (0x2B, "Translation fault, level -1"), (0x3F, "reserved fault status code"),
])
def test_fault_status_codes(fsc, text):
    assert fsc_name(fsc) == text


def test_trapped_sysreg_is_named_from_the_sysreg_table():
    # MRS x3, HCR_EL2?  No: an EL1 read of TTBR0_EL1 (op0 3, op1 0, CRn 2, CRm 0, op2 0).
    iss = (3 << 20) | (0 << 17) | (0 << 14) | (2 << 10) | (3 << 5) | (0 << 1) | 1
    insn, note = sysreg_from_iss(iss)
    assert insn == "MRS x3, TTBR0_EL1"
    assert "HCR_EL2.TVM (writes)" in note and "HCR_EL2.TRVM (reads)" in note
    lines = explain_esr(esr(0x18, iss), el=2)
    assert "  = MRS x3, TTBR0_EL1" in lines
    # a System instruction (op0 = 1): DC CIVAC, x0
    iss = (1 << 20) | (1 << 17) | (3 << 14) | (7 << 10) | (0 << 5) | (14 << 1)
    assert sysreg_from_iss(iss)[0] == "DC CIVAC, x0"
    # an encoding armvirt does not implement
    iss = (3 << 20) | (7 << 17) | (0 << 14) | (15 << 10) | (1 << 5) | (2 << 1)
    insn, note = sysreg_from_iss(iss)
    assert insn == "MSR S3_0_C15_C2_7, x1" and "not in armvirt's system-register table" in note


def test_immediates_and_wfx():
    assert field(explain_esr(esr(0x16, 0x1234)), "imm16") == \
        ("0x1234", "the immediate of the HVC instruction")
    assert field(explain_esr(esr(0x3C, 0xF000)), "comment")[0] == "0xf000"
    assert field(explain_esr(esr(0x01, 1)), "TI") == ("1", "WFE trapped")
    assert field(explain_esr(esr(0x01, 0)), "TI") == ("0", "WFI trapped")


def test_il_and_stale_far():
    lines = explain_esr(0x15 << 26, el=1, far=0xdead)          # IL = 0
    assert field(lines, "IL") == ("0", "16-bit instruction trapped")
    assert lines[-1] == "  (FAR_EL1 is not written by this exception class: its value " \
                        "0xdead is stale)"
    assert ec_name(0x3F) == "reserved / unallocated exception class"
