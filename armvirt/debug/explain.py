"""Exception syndromes in words: ESR_ELx, FAR_ELx and HPFAR_EL2 decoded as the Arm ARM
(DDI 0487) describes them.

References, by section title (their numbers move between editions of the Arm ARM):

* ESR_EL1 / ESR_EL2, "Exception Class" table: the EC field (ESR[31:26]), IL (ESR[25]) and ISS
  (ESR[24:0]).
* "ISS encoding for an exception from a Data Abort" (EC 0x24/0x25): ISV, SAS, SSE, SRT, SF, AR,
  VNCR, SET, FnV, EA, CM, S1PTW, WnR, DFSC.
* "ISS encoding for an exception from an Instruction Abort" (EC 0x20/0x21): SET, FnV, EA,
  S1PTW, IFSC.
* "ISS encoding for an exception from MSR, MRS, or System instruction execution in AArch64
  state" (EC 0x18): Op0, Op2, Op1, CRn, Rt, CRm, Direction.
* "ISS encoding for an exception from HVC or SVC instruction execution" / "... SMC ..." /
  "... BRK instruction execution" (EC 0x15-0x17, 0x3C): imm16 / comment.
* "ISS encoding for an exception from a WF* instruction" (EC 0x01): CV, COND, RN, RV, TI.
* "ISS encoding for an SError interrupt" (EC 0x2F): IDS, IESB, AET, EA, DFSC.
* HPFAR_EL2: FIPA (bits [43:4]) holds IPA[51:12] of the faulting stage 2 translation, so the
  IPA is ``(HPFAR_EL2 & 0xFFFFFFFFFF0) << 8 | FAR_EL2[11:0]``.

System-register names for EC 0x18 come from ``armvirt.cpu.sysreg_table`` (the project's one
table of encodings); System instructions (op0 = 1: DC, IC, AT, TLBI) from
``armvirt.sysinsn_table``; the ISS fields' positions from ``armvirt.cpu.syndrome``.
"""
from __future__ import annotations

from armvirt.cpu import sysreg_table as T
from armvirt.sysinsn_table import SYS_INSNS

# The exception classes, their names and the classes' groups: armvirt/cpu/syndrome.py, the
# one table the core, this decoder, the REPL, the traces and the firmware's include share.
from armvirt.cpu import syndrome as S  # noqa: E402
from armvirt.cpu.syndrome import (ABORT_ECS, ABORT_ISS_FIELDS, CALL_ECS,  # noqa: E402,F401
                                  DATA_ABORT_ECS, EC_NAMES, EC_SHORT, FAR_ECS,
                                  SYSREG_ISS_FIELDS)

_WATCHPT_ECS = (S.EC_WATCHPT_LOWER, S.EC_WATCHPT_SAME)

_LEVEL = {0: "level 0", 1: "level 1", 2: "level 2", 3: "level 3"}


def fsc_name(fsc: int) -> str:
    """DFSC/IFSC (ISS[5:0]) of an abort: "Data Fault Status Code" table of the Data Abort ISS."""
    lvl = fsc & 3
    if fsc <= 0x03:
        return f"Address size fault, {_LEVEL[lvl]}"
    if 0x04 <= fsc <= 0x07:
        return f"Translation fault, {_LEVEL[lvl]}"
    if 0x08 <= fsc <= 0x0B:
        return f"Access flag fault, {_LEVEL[lvl]}"
    if 0x0C <= fsc <= 0x0F:
        return f"Permission fault, {_LEVEL[lvl]}"
    if 0x14 <= fsc <= 0x17:
        return f"Synchronous External abort on translation table walk, {_LEVEL[lvl]}"
    if 0x1C <= fsc <= 0x1F:
        return (f"Synchronous parity or ECC error on memory access on translation table "
                f"walk, {_LEVEL[lvl]}")
    if 0x24 <= fsc <= 0x27:
        return f"Granule Protection Fault on translation table walk, {_LEVEL[lvl]}"
    return {
        0x10: "Synchronous External abort, not on translation table walk",
        0x11: "Synchronous Tag Check Fault",
        0x13: "Synchronous External abort on translation table walk, level -1",
        0x18: "Synchronous parity or ECC error on memory access, not on translation table "
              "walk",
        0x1B: "Synchronous parity or ECC error on translation table walk, level -1",
        0x21: "Alignment fault",
        0x22: "Debug exception",
        0x23: "Granule Protection Fault on translation table walk, level -1",
        0x28: "Granule Protection Fault, not on translation table walk",
        0x29: "Address size fault, level -1",
        0x2B: "Translation fault, level -1",
        0x30: "TLB conflict abort",
        0x31: "Unsupported atomic hardware update fault",
        0x34: "IMPLEMENTATION DEFINED fault (Lockdown)",
        0x35: "IMPLEMENTATION DEFINED fault (Unsupported Exclusive or Atomic access)",
    }.get(fsc, "reserved fault status code")


def ec_name(ec: int) -> str:
    return EC_NAMES.get(ec, "reserved / unallocated exception class")


def ec_short(ec: int) -> str:
    return EC_SHORT.get(ec, f"EC 0x{ec:02x}")


# --------------------------------------------------------------------------- EC 0x18
_BY_ENCODING: dict[tuple[int, int, int, int, int], T.SysReg] = {
    (r.op0, r.op1, r.crn, r.crm, r.op2): r for r in T.SYSREGS}

# System instructions (op0 = 1) by (op1, CRn, CRm, op2): armvirt/sysinsn_table.py.

# The EL2 trap controls of sysreg_table.SysReg.traps, named as the Arm ARM names the bits.
TRAP_NAMES = [
    (T.TRAP_TVM, "HCR_EL2.TVM (writes)"), (T.TRAP_TRVM, "HCR_EL2.TRVM (reads)"),
    (T.TRAP_TID1, "HCR_EL2.TID1"), (T.TRAP_TID2, "HCR_EL2.TID2"),
    (T.TRAP_TID3, "HCR_EL2.TID3"), (T.TRAP_TACR, "HCR_EL2.TACR"),
    (T.TRAP_TCPAC, "CPTR_EL2.TCPAC"), (T.TRAP_TDA, "MDCR_EL2.TDA/TDE"),
    (T.TRAP_TDOSA, "MDCR_EL2.TDOSA/TDE"), (T.TRAP_TDRA, "MDCR_EL2.TDRA/TDE"),
]


def _fields(iss: int, table: tuple) -> dict[str, int]:
    """An ISS split into its fields by their Arm ARM names, by a (name, lsb, width) table of
    armvirt/cpu/syndrome.py."""
    return {name: (iss >> lsb) & ((1 << width) - 1) for name, lsb, width in table}


def _sysreg_fields(iss: int) -> dict[str, int]:
    """The fields of EC 0x18's ISS (syndrome.SYSREG_ISS_FIELDS)."""
    return _fields(iss, SYSREG_ISS_FIELDS)


def sysreg_from_iss(iss: int) -> tuple[str, str]:
    """(instruction, note) for the ISS of EC 0x18: ``MSR SCTLR_EL1, x0`` and what covers it."""
    f = _sysreg_fields(iss)
    op0, op1, crn, crm, op2 = f["Op0"], f["Op1"], f["CRn"], f["CRm"], f["Op2"]
    rt, read = f["Rt"], f["Direction"]
    reg = f"x{rt}" if rt != 31 else "xzr"
    generic = f"S{op0}_{op1}_C{crn}_C{crm}_{op2}"
    if op0 == 1:
        name = SYS_INSNS.get((op1, crn, crm, op2))
        if read:
            return f"SYSL {reg}, #{op1}, C{crn}, C{crm}, #{op2}", "a System instruction (SYSL)"
        if name:
            return f"{name}, {reg}", "a System instruction (cache, address translation or TLB)"
        return f"SYS #{op1}, C{crn}, C{crm}, #{op2}, {reg}", "a System instruction"
    r = _BY_ENCODING.get((op0, op1, crn, crm, op2))
    name = r.name if r is not None else generic
    insn = f"MRS {reg}, {name}" if read else f"MSR {name}, {reg}"
    if r is None:
        return insn, f"{generic} is not in armvirt's system-register table"
    covers = [n for bit, n in TRAP_NAMES if r.traps & bit]
    note = f"{r.name}: " + (f"EL2 trap controls covering it: {', '.join(covers)}" if covers
                            else "no EL2 trap group covers it (EL0 enable or access control)")
    return insn, note


# --------------------------------------------------------------------------- the decoder
def _row(name: str, value: str, text: str) -> str:
    return f"  {name:<8} {value:<11} {text}".rstrip()


def explain_esr(esr: int, *, el: int | None = None, far: int | None = None,
                hpfar: int | None = None) -> list[str]:
    """ESR_ELx (and, for aborts, FAR_ELx and HPFAR_EL2) in words, one field per line.

    ``el`` names the register (ESR_EL1 or ESR_EL2) and decides whether HPFAR_EL2 applies
    (faults taken to EL2 from a lower EL only).
    """
    esr &= 0xFFFF_FFFF_FFFF_FFFF
    ec, il, iss = (esr >> S.ESR_EC_SHIFT) & S.ESR_EC_MASK, int(bool(esr & S.ESR_IL)), \
        esr & S.ESR_ISS_MASK
    reg = f"ESR_EL{el}" if el is not None else "ESR"
    out = [f"{reg} = 0x{esr:08x}: {ec_short(ec)} (EC 0x{ec:02x})",
           _row("EC", f"0x{ec:02x}", ec_name(ec)),
           _row("IL", str(il), "32-bit instruction (or an exception not tied to an "
                "instruction length)" if il else "16-bit instruction trapped")]
    if ec in ABORT_ECS:
        out += _abort(ec, iss, el, far, hpfar)
    elif ec == S.EC_SYSREG:
        insn, note = sysreg_from_iss(iss)
        f = _sysreg_fields(iss)
        read = f["Direction"]
        out += [_row("ISS", f"0x{iss:07x}", ""),
                *(_row(name, str(f[name]), "") for name in ("Op0", "Op1", "CRn", "CRm", "Op2")),
                _row("Rt", str(f["Rt"]), "transfer register"),
                _row("Dir", str(read), "read (MRS/SYSL)" if read else "write (MSR/SYS)"),
                f"  = {insn}", f"    {note}"]
    elif ec in CALL_ECS:
        out.append(_row("imm16", f"0x{iss & 0xFFFF:04x}",
                        f"the immediate of the {EC_SHORT[ec]} instruction"))
    elif ec == S.EC_BRK64:
        out.append(_row("comment", f"0x{iss & 0xFFFF:04x}", "the immediate of the BRK "
                        "instruction"))
    elif ec == S.EC_WFX:
        ti = iss & 3
        out.append(_row("TI", str(ti), {0: "WFI", 1: "WFE", 2: "WFIT", 3: "WFET"}[ti] +
                        " trapped"))
        if (iss >> 24) & 1:
            out.append(_row("COND", f"0x{(iss >> 20) & 0xF:x}", "condition code (CV = 1)"))
        if (iss >> 2) & 1:
            out.append(_row("RN", str((iss >> 5) & 0x1F), "register of the WFxT timeout"))
    elif ec == S.EC_FP_ACCESS:
        if (iss >> 24) & 1:
            out.append(_row("COND", f"0x{(iss >> 20) & 0xF:x}", "condition code (CV = 1; "
                            "0xe = always for A64)"))
    elif ec == S.EC_SERROR:
        if (iss >> 24) & 1:
            out.append(_row("IDS", "1", f"IMPLEMENTATION DEFINED syndrome 0x{iss & 0xFFFFFF:x}"))
        else:
            aet = (iss >> 10) & 7
            out.append(_row("AET", str(aet), {0: "Uncontainable", 1: "Unrecoverable state",
                                             2: "Restartable state", 3: "Recoverable state",
                                             6: "Corrected"}.get(aet, "reserved")))
            out.append(_row("EA", str((iss >> 9) & 1), "External abort type"))
            dfsc = iss & 0x3F
            out.append(_row("DFSC", f"0x{dfsc:02x}", {0: "Uncategorized error",
                                                      0x11: "Asynchronous SError interrupt"}
                            .get(dfsc, "reserved")))
    elif S.EC_BREAKPT_LOWER <= ec <= S.EC_WATCHPT_SAME:     # the debug exceptions
        if ec in _WATCHPT_ECS:
            out.append(_row("WnR", str((iss >> 6) & 1), "write" if (iss >> 6) & 1 else "read"))
            out.append(_row("CM", str((iss >> 8) & 1), ""))
        if far is not None and ec in _WATCHPT_ECS:
            out.append(_row("FAR", f"0x{far:x}", "the watched address that was accessed"))
    elif iss:
        out.append(_row("ISS", f"0x{iss:07x}", "(no ISS encoding defined for this class)"))
    if ec == S.EC_PC_ALIGN and far is not None:
        out.append(_row("FAR", f"0x{far:x}", "the misaligned PC"))
    if far is not None and ec not in FAR_ECS:
        out.append(f"  (FAR_EL{el if el is not None else 'x'} is not written by this exception "
                   f"class: its value 0x{far:x} is stale)")
    return out


def _abort(ec: int, iss: int, el: int | None, far: int | None, hpfar: int | None) -> list[str]:
    data = ec in DATA_ABORT_ECS
    f = _fields(iss, ABORT_ISS_FIELDS)
    fsc = f["FSC"]
    out: list[str] = []
    if data:
        if f["ISV"]:
            sas, sf = f["SAS"], f["SF"]
            out += [_row("ISV", "1", "instruction syndrome valid (ISS[23:14])"),
                    _row("SAS", str(sas), {0: "byte", 1: "halfword", 2: "word",
                                           3: "doubleword"}[sas] + " access"),
                    _row("SSE", str(f["SSE"]),
                         "sign-extended" if f["SSE"] else "not sign-extended"),
                    _row("SRT", str(f["SRT"]), "transfer register "
                         f"{'x' if sf else 'w'}{f['SRT']}"),
                    _row("SF", str(sf), "64-bit register" if sf else "32-bit register"),
                    _row("AR", str(f["AR"]), "acquire/release semantics"
                         if f["AR"] else "no acquire/release semantics")]
        else:
            out.append(_row("ISV", "0", "no instruction syndrome (SAS, SSE, SRT, SF, AR not "
                            "valid)"))
        if f["VNCR"]:
            out.append(_row("VNCR", "1", "the fault came from a VNCR_EL2 access"))
    fnv, ea, s1ptw = f["FnV"], f["EA"], f["S1PTW"]
    if fsc == 0x10 or 0x14 <= fsc <= 0x1F:
        out.append(_row("SET", str(f["SET"]), "synchronous error type"))
        out.append(_row("FnV", str(fnv), "FAR is not valid" if fnv else "FAR is valid"))
    out.append(_row("EA", str(ea), "External abort type (IMPLEMENTATION DEFINED)"))
    if data:
        out.append(_row("CM", str(f["CM"]), "cache maintenance or address "
                        "translation instruction" if f["CM"]
                        else "not a cache maintenance instruction"))
    out.append(_row("S1PTW", str(s1ptw), "stage 2 fault on a stage 1 translation table walk"
                    if s1ptw else "not on a stage 1 translation table walk"))
    if data:
        out.append(_row("WnR", str(f["WnR"]), "write" if f["WnR"] else "read"))
    out.append(_row("DFSC" if data else "IFSC", f"0x{fsc:02x}", fsc_name(fsc)))
    if far is not None:
        if (fsc == 0x10 or 0x14 <= fsc <= 0x1F) and fnv:
            out.append(_row("FAR", f"0x{far:x}", "not valid (FnV = 1)"))
        else:
            out.append(_row("FAR", f"0x{far:x}", "faulting virtual address"))
    if el == 2 and ec in (S.EC_IABT_LOWER, S.EC_DABT_LOWER) and hpfar is not None and \
            far is not None:
        ipa = ((hpfar & 0xFFF_FFFF_FFF0) << 8) | (far & 0xFFF)
        stage2 = fsc <= 0x0F or s1ptw
        out.append(_row("IPA", f"0x{ipa:x}", "faulting IPA = HPFAR_EL2.FIPA << 12 | "
                        "FAR_EL2[11:0]" + ("" if stage2 else
                                           " (HPFAR_EL2 is only valid for stage 2 faults)")))
    return out
