"""Exception classes and syndrome fields: the one table of ESR_ELx.EC values, their names, and
the positions of the ESR fields armvirt reads or writes (Arm ARM, ESR_EL1/ESR_EL2: "Exception
Class" table and the "ISS encoding for ..." sections, named as there).

Constants only (no code the core runs): the core (``cpu/exceptions.py``, ``cpu/memory.py``,
``exec/system.py``), the syndrome decoder (``debug/explain.py``), the debugger, the traces and
the firmware's include (``python -m armvirt.hv.gen_abi``: the ``EC_*`` macros) all take the
numbers and names from here. It is part of the jitted core (``_jitcache.CORE`` covers ``cpu/``):
editing it recompiles the core.
"""

# (EC, NAME, short name, Arm ARM description, catch keyword). NAME gives the constant EC_NAME
# (and the firmware's macro of the same name); the short name is for one-line reports; the
# keyword is what `catch exception ec=KEYWORD` accepts (several classes may share one).
EC_TABLE = (
    (0x00, "UNKNOWN", "UNDEFINED", "Unknown reason (UNDEFINED or unallocated instruction, or "
     "an exception with no other syndrome)", "undef"),
    (0x01, "WFX", "WFx trap", "Trapped WFI or WFE instruction", "wfx"),
    (0x03, "CP15_32", "MCR/MRC trap (AArch32)", "Trapped MCR or MRC access (coproc 0b1111), "
     "AArch32", ""),
    (0x04, "CP15_64", "MCRR/MRRC trap (AArch32)", "Trapped MCRR or MRRC access (coproc "
     "0b1111), AArch32", ""),
    (0x05, "CP14_MR", "MCR/MRC cp14 trap (AArch32)", "Trapped MCR or MRC access (coproc "
     "0b1110), AArch32", ""),
    (0x06, "CP14_LS", "LDC/STC trap (AArch32)", "Trapped LDC or STC access, AArch32", ""),
    (0x07, "FP_ACCESS", "FP/SIMD access trap", "Access to SVE, Advanced SIMD or floating-point "
     "functionality trapped by CPACR_EL1.FPEN, CPTR_EL2.TFP or CPTR_EL3.TFP", "fp"),
    (0x08, "CP10_ID", "VMRS trap (AArch32)", "Trapped VMRS access (ID group traps), AArch32",
     ""),
    (0x09, "PAC", "PAC trap", "Trapped pointer authentication instruction (HCR_EL2.API / "
     "SCR_EL3.API)", ""),
    (0x0A, "LS64", "LD64B/ST64B trap", "Trapped LD64B/ST64B* instruction", ""),
    (0x0C, "CP14_64", "MRRC cp14 trap (AArch32)", "Trapped MRRC access (coproc 0b1110), "
     "AArch32", ""),
    (0x0D, "BTI", "branch target exception", "Branch Target Exception", ""),
    (0x0E, "ILLEGAL_STATE", "illegal state", "Illegal Execution state (PSTATE.IL set)",
     "illegal"),
    (0x11, "SVC32", "SVC (AArch32)", "SVC instruction execution in AArch32 state", ""),
    (0x12, "HVC32", "HVC (AArch32)", "HVC instruction execution in AArch32 state", ""),
    (0x13, "SMC32", "SMC (AArch32)", "SMC instruction execution in AArch32 state", ""),
    (0x15, "SVC64", "SVC", "SVC instruction execution in AArch64 state", "svc"),
    (0x16, "HVC64", "HVC", "HVC instruction execution in AArch64 state", "hvc"),
    (0x17, "SMC64", "SMC", "SMC instruction execution in AArch64 state", "smc"),
    (0x18, "SYSREG", "MSR/MRS/SYS trap", "Trapped MSR, MRS or System instruction execution in "
     "AArch64 state", "sysreg"),
    (0x19, "SVE", "SVE trap", "Access to SVE functionality trapped", ""),
    (0x1A, "ERET", "ERET trap", "Trapped ERET, ERETAA or ERETAB instruction", ""),
    (0x1B, "TSTART", "TSTART", "Exception from TSTART instruction", ""),
    (0x1C, "FPAC", "PAC failure", "Pointer authentication failure (FEAT_FPAC)", ""),
    (0x1D, "SME", "SME trap", "Access to SME functionality trapped", ""),
    (0x1F, "IMP_DEF", "IMPLEMENTATION DEFINED", "IMPLEMENTATION DEFINED exception to EL3", ""),
    (0x20, "IABT_LOWER", "instruction abort (lower EL)", "Instruction Abort from a lower "
     "Exception level", "iabt"),
    (0x21, "IABT_SAME", "instruction abort (same EL)", "Instruction Abort taken without a "
     "change in Exception level", "iabt"),
    (0x22, "PC_ALIGN", "PC alignment fault", "PC alignment fault", "pc_align"),
    (0x24, "DABT_LOWER", "data abort (lower EL)", "Data Abort from a lower Exception level",
     "dabt"),
    (0x25, "DABT_SAME", "data abort (same EL)", "Data Abort taken without a change in "
     "Exception level", "dabt"),
    (0x26, "SP_ALIGN", "SP alignment fault", "SP alignment fault", "sp_align"),
    (0x27, "MOPS", "memory operation exception", "Memory Operation Exception (FEAT_MOPS)", ""),
    (0x28, "FP_EXC32", "FP exception (AArch32)", "Trapped floating-point exception, AArch32",
     ""),
    (0x2C, "FP_EXC64", "FP exception", "Trapped floating-point exception, AArch64", ""),
    (0x2F, "SERROR", "SError", "SError interrupt", "serror"),
    (0x30, "BREAKPT_LOWER", "breakpoint (lower EL)", "Breakpoint exception from a lower "
     "Exception level", ""),
    (0x31, "BREAKPT_SAME", "breakpoint (same EL)", "Breakpoint exception taken without a "
     "change in Exception level", ""),
    (0x32, "SOFTSTP_LOWER", "software step (lower EL)", "Software Step exception from a lower "
     "Exception level", ""),
    (0x33, "SOFTSTP_SAME", "software step (same EL)", "Software Step exception taken without "
     "a change in Exception level", ""),
    (0x34, "WATCHPT_LOWER", "watchpoint (lower EL)", "Watchpoint exception from a lower "
     "Exception level", ""),
    (0x35, "WATCHPT_SAME", "watchpoint (same EL)", "Watchpoint exception taken without a "
     "change in Exception level", ""),
    (0x38, "BKPT32", "BKPT (AArch32)", "BKPT instruction execution, AArch32", ""),
    (0x3A, "VECTOR_CATCH", "vector catch (AArch32)", "Vector Catch exception, AArch32", ""),
    (0x3C, "BRK64", "BRK", "BRK instruction execution in AArch64 state", "brk"),
)

# EC_<NAME> = value for every row (the names the core and the firmware use).
globals().update({f"EC_{row[1]}": row[0] for row in EC_TABLE})
EC_UNKNOWN: int
EC_WFX: int
EC_FP_ACCESS: int
EC_ILLEGAL_STATE: int
EC_SVC64: int
EC_HVC64: int
EC_SMC64: int
EC_SYSREG: int
EC_IABT_LOWER: int
EC_IABT_SAME: int
EC_PC_ALIGN: int
EC_DABT_LOWER: int
EC_DABT_SAME: int
EC_SP_ALIGN: int
EC_SERROR: int
EC_BRK64: int

EC_BY_VALUE = {row[0]: row for row in EC_TABLE}
EC_NAMES = {row[0]: row[3] for row in EC_TABLE}      # Arm ARM descriptions
EC_SHORT = {row[0]: row[2] for row in EC_TABLE}      # one-line reports
# `catch exception ec=KEYWORD`: keyword -> the classes it stands for
EC_KEYWORDS: dict = {}
for _row in EC_TABLE:
    if _row[4]:
        EC_KEYWORDS[_row[4]] = EC_KEYWORDS.get(_row[4], ()) + (_row[0],)
del _row

# Classes by what their syndrome carries
ABORT_ECS = frozenset({0x20, 0x21, 0x24, 0x25})
DATA_ABORT_ECS = frozenset({0x24, 0x25})
FAR_ECS = frozenset({0x20, 0x21, 0x22, 0x24, 0x25, 0x34, 0x35})   # ECs that write FAR_ELx
CALL_ECS = frozenset({0x15, 0x16, 0x17})   # ELR is the instruction after the SVC/HVC/SMC

# ESR_ELx: EC [31:26], IL [25], ISS [24:0]
ESR_EC_SHIFT = 26
ESR_EC_MASK = 0x3F
ESR_IL = 1 << 25
ESR_ISS_MASK = 0x1FF_FFFF

# Data/Instruction Abort ISS fields: (name, lsb, width)
ABORT_ISS_FIELDS = (("ISV", 24, 1), ("SAS", 22, 2), ("SSE", 21, 1), ("SRT", 16, 5),
                    ("SF", 15, 1), ("AR", 14, 1), ("VNCR", 13, 1), ("SET", 11, 2),
                    ("FnV", 10, 1), ("EA", 9, 1), ("CM", 8, 1), ("S1PTW", 7, 1),
                    ("WnR", 6, 1), ("FSC", 0, 6))
# MSR/MRS/System instruction ISS (EC 0x18): (name, lsb, width)
SYSREG_ISS_FIELDS = (("Op0", 20, 2), ("Op2", 17, 3), ("Op1", 14, 3), ("CRn", 10, 4),
                     ("Rt", 5, 5), ("CRm", 1, 4), ("Direction", 0, 1))


def ec_of(esr):
    """ESR_ELx.EC of a syndrome value."""
    return (esr >> ESR_EC_SHIFT) & ESR_EC_MASK
