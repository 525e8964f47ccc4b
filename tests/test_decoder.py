"""Oracle tests of the generated A64 decoder (``armvirt/isa/_decoder.py``) against capstone.

capstone (LLVM's AArch64 disassembler) is an independent decoder.  For every word we look at,
the two must agree on whether it is allocated and capstone's mnemonic must be one our pattern
allows (aliases included).  The scope of our table is the Armv8.0 A64 base ISA with Advanced SIMD
integer (simd.decode, simd_ldst.decode) but without the floating-point data processing, plus
FEAT_LSE (Arm ARM C4.1).  Words outside that scope, and the places where
capstone and the Arm ARM part ways, are listed below one by one with the reason; nothing is
skipped wholesale.

Also here: the generator's staleness check, its validation errors, and the generated
dispatcher's field extraction (run as plain Python against a throw-away handler package).
"""

from __future__ import annotations

import importlib
import random
import re
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import capstone
import numpy as np
import pytest

from armvirt.isa import _decoder as D
from armvirt.isa import gen_decoder as G
from armvirt.isa import predicates as P

REPO = Path(__file__).resolve().parent.parent
TABLE = G.load_table()
PRED = {name: getattr(P, name).py_func for name in TABLE.predicates}
UNALLOCATED = D.UNALLOCATED

_ARCH = getattr(capstone, "CS_ARCH_AARCH64", None) or capstone.CS_ARCH_ARM64  # 6.x vs 5.x name
CS = capstone.Cs(_ARCH, capstone.CS_MODE_ARM)


def cs_mnemonic(w: int) -> str | None:
    for insn in CS.disasm_lite(struct.pack("<I", w), 0):
        return insn[2]
    return None


def cs_text(w: int) -> str:
    for insn in CS.disasm_lite(struct.pack("<I", w), 0):
        return f"{insn[2]} {insn[3]}".strip()
    return "<invalid>"


def bits(spec: str) -> tuple[int, int]:
    """(mask, value) of a 32-character pattern, MSB first: 0/1 fixed, '.' free, spaces ignored."""
    spec = spec.replace(" ", "")
    assert len(spec) == 32, spec
    mask = value = 0
    for ch in spec:
        mask, value = mask << 1, value << 1
        if ch in "01":
            mask |= 1
            value |= int(ch)
        else:
            assert ch == ".", spec
    return mask, value


def region(*specs: str) -> Callable[[int], bool]:
    regions = [bits(s) for s in specs]
    return lambda w: any((w & m) == v for m, v in regions)


def fields(w: int, name: str) -> dict:
    return TABLE.by_name[name].values(w)


# --------------------------------------------------------------------------------------------
# Mnemonics capstone may print for each pattern (the instruction and its preferred aliases).

_CONDS = "eq ne hs cs lo cc mi pl vs vc hi ls ge lt gt le al nv".split()
_LDST_GPR = {"str", "strb", "strh", "ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrsw"}
_LSE_OPS = "add clr eor set smax smin umax umin".split()


def _variants(stem: str, orders: list, sizes=("", "b", "h")) -> set:
    return {f"{stem}{o}{s}" for o in orders for s in sizes}


def _lse(op: str) -> set:
    # LD<OP>{A,AL,L}{B,H}; ST<OP>{L}{B,H} is the alias with Rt = ZR and no acquire.
    return _variants("ld" + op, ["", "a", "al", "l"]) | _variants("st" + op, ["", "l"])


_FP_3SAME = {"fmaxnm", "fmla", "fadd", "fmulx", "fcmeq", "fmax", "frecps", "fminnm", "fmls",
             "fsub", "fmin", "frsqrts", "fmaxnmp", "faddp", "fmul", "fcmge", "facge", "fmaxp",
             "fdiv", "fminnmp", "fabd", "fcmgt", "facgt", "fminp"}
_FP_2MISC = {
    "FCMGT_zero": {"fcmgt", "fcmge"}, "FCMEQ_zero": {"fcmeq", "fcmle"}, "FCMLT_zero": {"fcmlt"},
    "FABS_FNEG": {"fabs", "fneg"}, "FCVTN": {"fcvtn", "fcvtn2", "fcvtxn", "fcvtxn2"},
    "FCVTL": {"fcvtl", "fcvtl2"}, "FRINTN_A": {"frintn", "frinta"}, "FRINTP": {"frintp"},
    "FRINTM_X": {"frintm", "frintx"}, "FRINTZ_I": {"frintz", "frinti"},
    "FCVTN_int": {"fcvtns", "fcvtnu"}, "FCVTP_int": {"fcvtps", "fcvtpu"},
    "FCVTM_int": {"fcvtms", "fcvtmu"}, "FCVTZ_int": {"fcvtzs", "fcvtzu"},
    "FCVTA_int": {"fcvtas", "fcvtau"}, "CVTF_int": {"scvtf", "ucvtf"},
    "FRECPE_FRSQRTE": {"frecpe", "frsqrte"}, "FSQRT_FRECPX": {"fsqrt", "frecpx"},
}


def _x2(*names: str) -> set:
    """A mnemonic and its "2" (upper-half) form."""
    return {n + s for n in names for s in ("", "2")}


_SIMD_ALLOWED = {
    "SIMD_3same_lo": {"and", "bic", "bif", "bit", "bsl", "cmge", "cmgt", "cmhi", "cmhs", "eor",
                      "orn", "orr", "mov", "saba", "sabd", "shadd", "shsub", "smax", "smin",
                      "sqadd", "sqrshl", "sqshl", "sqsub", "srhadd", "srshl", "sshl", "uaba",
                      "uabd", "uhadd", "uhsub", "umax", "umin", "uqadd", "uqrshl", "uqshl",
                      "uqsub", "urhadd", "urshl", "ushl"},
    "SIMD_3same_hi": {"add", "addp", "cmeq", "cmtst", "mla", "mls", "mul", "pmul", "smaxp",
                      "sminp", "sqdmulh", "sqrdmulh", "sub", "umaxp", "uminp"},
    "SISD_3same_lo": {"cmge", "cmgt", "cmhi", "cmhs", "sqadd", "sqrshl", "sqshl", "sqsub",
                      "srshl", "sshl", "uqadd", "uqrshl", "uqshl", "uqsub", "urshl", "ushl"},
    "SISD_3same_hi": {"add", "cmeq", "cmtst", "sqdmulh", "sqrdmulh", "sub"},
    "SIMD_3diff": _x2("addhn", "pmull", "raddhn", "rsubhn", "sabal", "sabdl", "saddl", "saddw",
                      "smlal", "smlsl", "smull", "sqdmlal", "sqdmlsl", "sqdmull", "ssubl",
                      "ssubw", "subhn", "uabal", "uabdl", "uaddl", "uaddw", "umlal", "umlsl",
                      "umull", "usubl", "usubw"),
    "SISD_3diff": {"sqdmlal", "sqdmlsl", "sqdmull"},
    "SIMD_2misc_a": {"cls", "clz", "cnt", "mvn", "not", "rbit", "rev16", "rev32", "rev64",
                     "sadalp", "saddlp", "sqabs", "sqneg", "suqadd", "uadalp", "uaddlp",
                     "usqadd"},
    "SIMD_2misc_b": {"abs", "cmeq", "cmge", "cmgt", "cmle", "cmlt", "neg"},
    "SIMD_2misc_c": _x2("shll", "sqxtun", "xtn"),
    "SIMD_2misc_d": _x2("sqxtn", "uqxtn"),
    "SIMD_2misc_e": {"urecpe", "ursqrte"},
    "SISD_2misc_a": {"sqabs", "sqneg", "suqadd", "usqadd"},
    "SISD_2misc_b": {"abs", "cmeq", "cmge", "cmgt", "cmle", "cmlt", "neg"},
    "SISD_2misc_c": {"sqxtun"},
    "SISD_2misc_d": {"sqxtn", "uqxtn"},
    "SIMD_across_a": {"saddlv", "uaddlv"},
    "SIMD_across_b": {"smaxv", "umaxv"},
    "SIMD_across_c": {"addv", "sminv", "uminv"},
    "SISD_ADDP": {"addp"},
    "SIMD_copy": {"dup", "mov", "ins", "smov", "umov"},
    "SISD_DUP_elem": {"mov", "dup"},
    "SIMD_TBL": {"tbl", "tbx"},
    "SIMD_ZIP": {"trn1", "trn2", "uzp1", "uzp2", "zip1", "zip2"},
    "SIMD_EXT": {"ext"},
    **{f"SIMD_modimm_{k}": {"bic", "movi", "mvni", "orr"} for k in "abcd"},
    "SIMD_shift_lo": {"shl", "sli", "sqshl", "sqshlu", "sri", "srshr", "srsra", "sshr", "ssra",
                      "uqshl", "urshr", "ursra", "ushr", "usra"},
    "SIMD_shift_hi": _x2("rshrn", "shrn", "sqrshrn", "sqrshrun", "sqshrn", "sqshrun", "sshll",
                         "uqrshrn", "uqshrn", "ushll", "sxtl", "uxtl"),
    "SISD_shift_lo": {"shl", "sli", "sqshl", "sqshlu", "sri", "srshr", "srsra", "sshr", "ssra",
                      "uqshl", "urshr", "ursra", "ushr", "usra"},
    "SISD_shift_hi": {"sqrshrn", "sqrshrun", "sqshrn", "sqshrun", "uqrshrn", "uqshrn"},
    "SIMD_elem_a": {"mla", "mls", "mul", "sqdmulh"} | _x2("smlal", "smlsl", "smull", "umlal",
                                                          "umlsl", "umull"),
    "SIMD_elem_b": _x2("sqdmlal", "sqdmlsl", "sqdmull"),
    "SIMD_elem_c": {"sqrdmulh"},
    "SISD_elem_a": {"sqdmulh"},
    "SISD_elem_b": {"sqdmlal", "sqdmlsl", "sqdmull"},
    "SISD_elem_c": {"sqrdmulh"},
    **{name: {f"{d}{n}" for d in ("ld", "st") for n in "1234"}
       for name in ("SIMD_ldst_multi", "SIMD_ldst_multi_post")},
    **{name: {f"{d}{n}" for d in ("ld", "st") for n in "1234"} | {f"ld{n}r" for n in "1234"}
       for name in ("SIMD_ldst_single", "SIMD_ldst_single_post")},
}


ALLOWED = {
    # branch_sys.decode
    "UDF": {"udf"},
    "B_cond": {f"b.{c}" for c in _CONDS},
    "SVC": {"svc"}, "HVC": {"hvc"}, "SMC": {"smc"}, "BRK": {"brk"}, "HLT": {"hlt"},
    "DCPS": {"dcps1", "dcps2", "dcps3"},
    "NOP": {"nop"}, "YIELD": {"yield"}, "WFE": {"wfe"}, "WFI": {"wfi"}, "SEV": {"sev"},
    "SEVL": {"sevl"},
    # HINT #imm and the names later extensions gave to some of them (all NOPs in Armv8.0).
    "HINT": {"hint", "esb", "psb", "tsb", "csdb", "dgh", "bti", "clrbhb", "xpaclri",
             "pacia1716", "pacib1716", "autia1716", "autib1716", "paciaz", "paciasp",
             "pacibz", "pacibsp", "autiaz", "autiasp", "autibz", "autibsp", "chkfeat"},
    "CLREX": {"clrex"},
    # DSB #0 / #4 print as SSBB / PSSBB; LLVM also names DSB #12 "dfb" (an Armv8-R alias).
    "DSB": {"dsb", "ssbb", "pssbb", "dfb"},
    "DMB": {"dmb"}, "ISB": {"isb"},
    "MSR_imm": {"msr"},
    "SYS": {"sys", "dc", "ic", "at", "tlbi", "cfp", "dvp", "cpp"},
    "SYSL": {"sysl"},
    "MSR_reg": {"msr"}, "MRS": {"mrs"},
    "BR": {"br"}, "BLR": {"blr"}, "RET": {"ret"}, "ERET": {"eret"}, "DRPS": {"drps"},
    "B": {"b"}, "BL": {"bl"}, "CBZ": {"cbz"}, "CBNZ": {"cbnz"}, "TBZ": {"tbz"}, "TBNZ": {"tbnz"},
    # dp_imm.decode
    "ADR": {"adr"}, "ADRP": {"adrp"},
    "ADDSUB_imm": {"add", "adds", "sub", "subs", "mov", "cmp", "cmn"},
    "LOGIC_imm": {"and", "orr", "eor", "ands", "mov", "tst"},
    "MOVN": {"movn", "mov"}, "MOVZ": {"movz", "mov"}, "MOVK": {"movk"},
    "SBFM": {"sbfm", "asr", "sbfiz", "sbfx", "sxtb", "sxth", "sxtw"},
    "BFM": {"bfm", "bfi", "bfxil", "bfc"},
    "UBFM": {"ubfm", "lsl", "lsr", "ubfiz", "ubfx", "uxtb", "uxth"},
    "EXTR": {"extr", "ror"},
    # dp_reg.decode
    "LOGIC_reg": {"and", "bic", "orr", "orn", "eor", "eon", "ands", "bics", "mov", "mvn", "tst"},
    "ADDSUB_shift": {"add", "adds", "sub", "subs", "cmp", "cmn", "neg", "negs"},
    "ADDSUB_ext": {"add", "adds", "sub", "subs", "cmp", "cmn", "mov"},
    "ADDSUB_carry": {"adc", "adcs", "sbc", "sbcs", "ngc", "ngcs"},
    "CONDCMP_reg": {"ccmn", "ccmp"}, "CONDCMP_imm": {"ccmn", "ccmp"},
    "CONDSEL": {"csel", "csinc", "csinv", "csneg", "cset", "csetm", "cinc", "cinv", "cneg"},
    "DIV": {"udiv", "sdiv"},
    "SHIFTV": {"lslv", "lsrv", "asrv", "rorv", "lsl", "lsr", "asr", "ror"},
    "CRC32": {f"crc32{c}{s}" for c in ("", "c") for s in "bhwx"},
    "RBIT": {"rbit"}, "REV": {"rev16", "rev32", "rev", "rev64"}, "CLZ": {"clz"}, "CLS": {"cls"},
    "MADDSUB": {"madd", "msub", "mul", "mneg"},
    "MADDSUBL": {"smaddl", "smsubl", "umaddl", "umsubl", "smull", "smnegl", "umull", "umnegl"},
    "MULH": {"smulh", "umulh"},
    # fpmove.decode
    "FMOV_gen": {"fmov"},
    "FP_int": {"fcvtns", "fcvtnu", "fcvtps", "fcvtpu", "fcvtms", "fcvtmu", "fcvtzs", "fcvtzu",
               "fcvtas", "fcvtau", "scvtf", "ucvtf"},
    # fp.decode
    "FP_1src": {"fmov", "fabs", "fneg", "fsqrt", "fcvt", "frintn", "frintp", "frintm",
                "frintz", "frinta", "frintx", "frinti"},
    "FP_cmp": {"fcmp", "fcmpe"}, "FP_imm": {"fmov"}, "FP_ccmp": {"fccmp", "fccmpe"},
    "FP_2src": {"fmul", "fdiv", "fadd", "fsub", "fmax", "fmin", "fmaxnm", "fminnm", "fnmul"},
    "FCSEL": {"fcsel"}, "FP_3src": {"fmadd", "fmsub", "fnmadd", "fnmsub"},
    "FP_fixed": {"scvtf", "ucvtf", "fcvtzs", "fcvtzu"},
    # simd_fp.decode
    **{name: _FP_3SAME for name in ("FP_3same", "FP_3same_s")},
    **_FP_2MISC,
    **{name + "_s": mn for name, mn in _FP_2MISC.items()
       if name not in ("FABS_FNEG", "FCVTL", "FRINTN_A", "FRINTP", "FRINTM_X", "FRINTZ_I")},
    "FP_pairwise_s": {"faddp", "fmaxp", "fminp", "fmaxnmp", "fminnmp"},
    "FP_across": {"fmaxv", "fminv", "fmaxnmv", "fminnmv"},
    **{"FP_elem_fmla" + sfx: {"fmla"} for sfx in ("", "_s")},
    **{"FP_elem_fmls" + sfx: {"fmls"} for sfx in ("", "_s")},
    **{"FP_elem_fmul" + sfx: {"fmul", "fmulx"} for sfx in ("", "_s")},
    "FMOV_vimm": {"fmov"},
    **{f"FP_cvtf_fixed_{e}{sfx}": {"scvtf", "ucvtf"} for e in "ds" for sfx in ("", "_s")},
    **{f"FP_fcvtz_fixed_{e}{sfx}": {"fcvtzs", "fcvtzu"} for e in "ds" for sfx in ("", "_s")},
    # ldst.decode
    "STXR": _variants("stxr", [""]) | _variants("stlxr", [""]),
    "LDXR": _variants("ldxr", [""]) | _variants("ldaxr", [""]),
    "STXP": {"stxp", "stlxp"}, "LDXP": {"ldxp", "ldaxp"},
    "STLR": _variants("stlr", [""]), "LDAR": _variants("ldar", [""]),
    "CAS": _variants("cas", ["", "a", "al", "l"]),
    "CASP": {"casp", "caspa", "caspal", "caspl"},
    "LDR_lit": {"ldr"}, "LDRSW_lit": {"ldrsw"}, "PRFM_lit": {"prfm"}, "LDR_lit_fp": {"ldr"},
    "PRFM_imm": {"prfm"}, "PRFUM": {"prfum"}, "PRFM_reg": {"prfm"},
    "LDST_uimm": _LDST_GPR, "LDST_post": _LDST_GPR, "LDST_pre": _LDST_GPR, "LDST_reg": _LDST_GPR,
    "LDST_unscaled": {"stur", "sturb", "sturh", "ldur", "ldurb", "ldurh", "ldursb", "ldursh",
                      "ldursw"},
    "LDST_unpriv": {"sttr", "sttrb", "sttrh", "ldtr", "ldtrb", "ldtrh", "ldtrsb", "ldtrsh",
                    "ldtrsw"},
    "LDST_fp_uimm": {"ldr", "str"}, "LDST_fp_post": {"ldr", "str"}, "LDST_fp_pre": {"ldr", "str"},
    "LDST_fp_reg": {"ldr", "str"}, "LDST_fp_unscaled": {"ldur", "stur"},
    **{name: {"ldnp", "stnp"} for name in ("LDSTNP", "LDSTNP_fp")},
    **{name: {"ldp", "stp", "ldpsw"} for name in ("LDSTP_post", "LDSTP_off", "LDSTP_pre")},
    **{name: {"ldp", "stp"} for name in ("LDSTP_fp_post", "LDSTP_fp_off", "LDSTP_fp_pre")},
    **{"LD" + op.upper(): _lse(op) for op in _LSE_OPS},
    "SWP": _variants("swp", ["", "a", "al", "l"]),
    # simd.decode (Advanced SIMD integer) and simd_ldst.decode (structure loads/stores)
    **_SIMD_ALLOWED,
}


# --------------------------------------------------------------------------------------------
# Scope: encoding regions the table deliberately leaves out (words there decode UNALLOCATED).

OUT_OF_SCOPE = [
    ("SVE (op0 = 0010)", region("... 0010 .........................")),
]

def _fp_mnemonic(w: int) -> bool:
    m = cs_mnemonic(w)
    return m is not None and (m.startswith("f") or m in ("scvtf", "ucvtf"))


def _fp16_or_later(w: int) -> bool:
    """capstone's FP instructions of later extensions: half-precision operands other than the
    Armv8.0 conversions (FEAT_FP16), FMLAL/FMLSL (FEAT_FHM), FCMLA/FCADD (FEAT_FCMA), FJCVTZS
    (FEAT_JSCVT), FRINT32/64 (FEAT_FRINTTS)."""
    m = cs_mnemonic(w)
    if m is None or not _fp_mnemonic(w):
        return False
    if m.startswith(("fmlal", "fmlsl", "fcmla", "fcadd", "fjcvtzs", "frint32", "frint64")):
        return True
    text = cs_text(w)
    return bool(re.search(r"\bh\d|\.\d*h\b|\.h\[", text))


def out_of_scope(w: int) -> str | None:
    for why, match in OUT_OF_SCOPE:
        if match(w):
            return why
    return None


# --------------------------------------------------------------------------------------------
# Where capstone and our table disagree, each with the Arm ARM's reason and an example word.


@dataclass(frozen=True)
class Disagreement:
    name: str
    why: str
    example: int
    match: Callable[[int], bool]


def _v80_op0_00_allocated(w: int) -> bool:
    """The Armv8.0 encodings of the op0 = 00 system space (C5.1), from the Arm ARM rather
    than from our table: hints, CLREX/DSB/DMB/ISB, MSR SPSel/DAIFSet/DAIFClr."""
    L, op1, crn, op2, rt = (w >> 21) & 1, (w >> 16) & 7, (w >> 12) & 15, (w >> 5) & 7, w & 31
    if L or rt != 31:
        return False
    if crn == 0b0010:
        return op1 == 0b011
    if crn == 0b0011:
        return op1 == 0b011 and op2 in (0b010, 0b100, 0b101, 0b110)
    return crn == 0b0100 and (op1, op2) in ((0b000, 0b101), (0b000, 0b100), (0b011, 0b110),
                                            (0b011, 0b111))


_SIMD_LATER = {"sqrdmlah", "sqrdmlsh", "sdot", "udot", "usdot", "sudot", "smmla", "ummla",
               "usmmla", "bfdot", "bfmlalb", "bfmlalt", "bfmmla", "bfcvtn", "bfcvtn2", "bfcvt",
               "eor3", "bcax", "rax1", "xar", "sm3ss1", "sm3tt1a", "sm3tt1b", "sm3tt2a",
               "sm3tt2b", "sm3partw1", "sm3partw2", "sm4e", "sm4ekey"}
_CRYPTO = {"aese", "aesd", "aesmc", "aesimc", "sha1c", "sha1p", "sha1m", "sha1h", "sha1su0",
           "sha1su1", "sha256h", "sha256h2", "sha256su0", "sha256su1", "sha512h", "sha512h2",
           "sha512su0", "sha512su1"}

# capstone decodes these; our table has them UNALLOCATED.
CAPSTONE_ONLY = [
    Disagreement(
        "FP16_and_later_FP", "Floating point of later extensions: FEAT_FP16 (Armv8.2) "
        "half-precision arithmetic, compares, conversions to integers and FMOV with H "
        "registers (Armv8.0 has half precision only in FCVT/FCVTL/FCVTN), FEAT_FHM "
        "FMLAL/FMLSL, FEAT_FCMA FCMLA/FCADD, FEAT_JSCVT FJCVTZS, FEAT_FRINTTS FRINT32/64.",
        0x1EE22820, _fp16_or_later),
    Disagreement(
        "SME", "FEAT_SME (Armv9.2) uses the reserved op0 = 0000 space with bit 31 = 1 "
        "(C4.1: op0 = 0000 is 'Reserved' in Armv8.0).", 0x809F2923,
        region("1 .. 0000 .........................")),
    Disagreement(
        "MSR_op0_00", "LLVM prints any op0 = 00 system encoding it does not know as MSR/MRS "
        "of 's0_<op1>_<Cn>_<Cm>_<op2>', but MSR/MRS (register) need op0<1> = 1 (C5.1, "
        "C6.2 MSR (register)); in Armv8.0 op0 = 00 holds only hints, barriers, CLREX and MSR "
        "(immediate) with the SPSel/DAIFSet/DAIFClr fields (and PAN, FEAT_PAN, which armvirt "
        "implements).  This covers the later PSTATE fields too (UAO v8.2, DIT v8.4, SSBS/TCO v8.5, SVCR (SMSTART/SMSTOP) of FEAT_SME), "
        "CFINV/XAFLAG/AXFLAG (FEAT_FlagM/FlagM2), WFET/WFIT (FEAT_WFxT), TSTART/TTEST/TCOMMIT "
        "(FEAT_TME), SB (FEAT_SB) and DSB nXS (FEAT_XS).", 0xD527B331,
        lambda w: (w & 0xFFD80000) == 0xD5000000 and not _v80_op0_00_allocated(w)),
    Disagreement(
        "MTE", "FEAT_MTE (Armv8.5): ADDG/SUBG (add/subtract immediate with bit 23 = 1), "
        "SUBP/SUBPS/IRG/GMI (2-source opcodes 000000/000100/000101), STGP (pair, opc = 01, "
        "L = 0) and the tag loads/stores LDG/STG/STZG/ST2G/STZ2G/STGM/STZGM/LDGM.", 0xD9371F2A,
        region("1 . 0 100011 0 ...... .. .... ..... .....",
               "1 0 . 11010110 ..... 000000 ..... .....",
               "1 0 0 11010110 ..... 00010. ..... .....",
               "01 101 0 001 0 ....... ..... ..... .....",
               "01 101 0 01. 0 ....... ..... ..... .....",
               "11011001 ..1 ......... .. ..... .....")),
    Disagreement(
        "PAuth", "FEAT_PAuth (Armv8.3): LDRAA/LDRAB (bits 11:10 = x1 in the register-offset "
        "space), PACGA (2-source opcode 001100), PAC*/AUT*/XPAC* (1-source opcode2 = 00001) and "
        "the authenticating branches BRAA/BLRAA/RETAA/ERETAA... (op3 != 000000).  The hint-space "
        "PAC instructions (PACIASP...) are HINTs, NOPs in Armv8.0, and decode as HINT.",
        0xF8A22794,
        region("11 111 0 00 . . 1 ......... . 1 ..... .....",
               "1 0 0 11010110 ..... 001100 ..... .....",
               "1 1 0 11010110 00001 ...... ..... .....",
               "1101011 . ... 11111 00001. ..... .....")),
    Disagreement(
        "LRCPC", "FEAT_LRCPC (Armv8.3) LDAPR/LDAPRB/LDAPRH (atomic space, o3 = 1, opc = 100, "
        "A = 1, R = 0) and FEAT_LRCPC2 (Armv8.4) LDAPUR*/STLUR* (size 011001 opc 0 imm9 00).",
        0x998DF20B,
        region(".. 111 0 00 1 0 1 11111 1 100 00 ..... .....",
               ".. 011001 .. 0 ......... 00 ..... .....")),
    Disagreement(
        "LOR", "FEAT_LOR (Armv8.1, not part of FEAT_LSE): LDLAR*/STLLR* (o2 = 1, o1 = 0, "
        "o0 = 0 in the exclusive space).", 0xC8DF7C20,
        region(".. 001000 1 . 0 11111 0 11111 ..... .....")),
    Disagreement(
        "FlagM", "FEAT_FlagM (Armv8.4) RMIF and SETF8/SETF16 (add/subtract with carry space, "
        "bits 15:10 != 000000).", 0xBA140460,
        region("1 0 1 11010000 ...... 00001 ..... 0 ....",
               "0 0 1 11010000 000000 . 0010 ..... 0 1101")),
    Disagreement(
        "HBC", "FEAT_HBC (Armv8.8) BC.cond: B.cond with o0 = bit 4 = 1.", 0x549E7F51,
        region("0101010 0 ................... 1 ....")),
    Disagreement(
        "MOPS", "FEAT_MOPS (Armv8.8) CPY*/SET* (op0 = xx01, op2 = 1x, op3<5> = 0, op4 = 01).",
        0x1D010478,
        region(".. 011 . 01 .. 0 ..... .... 01 ..... .....")),
    Disagreement(
        "LS64", "FEAT_LS64 (Armv8.7) LD64B/ST64B/ST64BV/ST64BV0 (atomic space, size = 11, "
        "o3 = 1).", 0xF831B2EC,
        region("11 111 0 00 0 0 1 ..... 1 ... 00 ..... .....")),
    Disagreement(
        "SIMD_later", "Advanced SIMD of later extensions, unallocated in Armv8.0: FEAT_RDM "
        "(v8.1) SQRDMLAH/SQRDMLSH, FEAT_DotProd (v8.2) SDOT/UDOT, FEAT_I8MM USDOT/SUDOT/"
        "SMMLA/UMMLA/USMMLA, FEAT_BF16 BF*, FEAT_SHA3 EOR3/BCAX/RAX1/XAR, FEAT_SM3/SM4.",
        0x2F84DBD8, lambda w: (w >> 25) & 7 == 7 and cs_mnemonic(w) in _SIMD_LATER),
    Disagreement(
        "crypto", "The Cryptographic Extension (AES, SHA1, SHA256, SHA512 and PMULL/PMULL2 "
        "with 64-bit elements, the 1Q arrangement): not implemented, and ID_AA64ISAR0_EL1 "
        "does not advertise it (Arm ARM: the encodings are UNDEFINED without FEAT_AES/"
        "FEAT_PMULL/FEAT_SHA*).", 0x0EFCE253,
        lambda w: (w >> 25) & 7 == 7 and (cs_mnemonic(w) in _CRYPTO
                                          or cs_text(w).startswith(("pmull v", "pmull2 v"))
                                          and ".1q" in cs_text(w))),
    Disagreement(
        "TME", "FEAT_TME TCANCEL (exception generation, opc = 011).", 0xD4713D60,
        region("11010100 011 ................ 000 00")),
]


def _ours(w: int, *names: str) -> dict | None:
    """Our fields for ``w`` if it decodes to one of ``names``, else None."""
    name = D.OP_NAMES[D.decode(w)]
    return fields(w, name) if name in names else None


def _wb_load_overlap(w: int, *names: str) -> bool:
    f = _ours(w, *names)
    return f is not None and f["opc"] & 1 == 1 and f["Rn"] == f["Rt"] != 31


def _pair_wb_overlap(w: int) -> bool:
    f = _ours(w, "LDSTP_post", "LDSTP_pre")
    return f is not None and f["Rn"] != 31 and f["Rn"] in (f["Rt"], f["Rt2"])


def _load_pair_same_rt(w: int) -> bool:
    f = _ours(w, "LDSTNP", "LDSTP_post", "LDSTP_off", "LDSTP_pre", "LDSTNP_fp",
              "LDSTP_fp_post", "LDSTP_fp_off", "LDSTP_fp_pre", "LDXP")
    return f is not None and f.get("L", 1) == 1 and f["Rt"] == f["Rt2"]


# We decode these (CONSTRAINED UNPREDICTABLE register combinations are allocated encodings,
# Arm ARM C6.2 and Appendix K1), capstone rejects them.
OURS_ONLY = [
    Disagreement(
        "LD_writeback_Rn_eq_Rt", "LDR* (immediate) pre/post-indexed with Rn == Rt != 31: "
        "CONSTRAINED UNPREDICTABLE (Unpredictable_WBOVERLAPLD), an allocated encoding the "
        "executor must give one of the permitted behaviours.  (LLVM rejects it only when bit 22 "
        "is set, so LDRSB/LDRSH/LDRSW to X pass through.)", 0x785B0508,
        lambda w: _wb_load_overlap(w, "LDST_post", "LDST_pre")),
    Disagreement(
        "LDTR_Rn_eq_Rt", "LDTR, LDTRB, LDTRH and LDTRSB/LDTRSH to W (opc<0> = 1) with "
        "Rn == Rt: a valid instruction (the unprivileged forms have no writeback).  LLVM takes bits 11:10 != 00 "
        "for writeback and rejects it as if it were WBOVERLAPLD: a capstone bug.", 0x784EF908,
        lambda w: _wb_load_overlap(w, "LDST_unpriv")),
    Disagreement(
        "LDSTP_writeback_overlap", "LDP/STP/LDPSW pre/post-indexed with Rn == Rt or Rn == Rt2, "
        "Rn != 31: CONSTRAINED UNPREDICTABLE (Unpredictable_WBOVERLAPLD/ST), allocated.",
        0xA8810821, _pair_wb_overlap),
    Disagreement(
        "LDP_Rt_eq_Rt2", "Load pair (LDP, LDNP, LDPSW, their SIMD&FP forms, LDXP/LDAXP) with "
        "Rt == Rt2: CONSTRAINED UNPREDICTABLE (Unpredictable_LDPOVERLAP), allocated.",
        0x295B7F7F, _load_pair_same_rt),
]


def check_word(w: int) -> str | None:
    """None if our decoder and capstone agree on ``w`` (or disagree in a listed way)."""
    op = D.decode(w)
    mnemonic = cs_mnemonic(w)
    name = D.OP_NAMES[op]
    if op != UNALLOCATED:
        if mnemonic is None:
            if any(d.match(w) for d in OURS_ONLY):
                return None
            return f"{w:#010x}: we decode {name}, capstone rejects it"
        if mnemonic not in ALLOWED[name]:
            return f"{w:#010x}: we decode {name}, capstone says {cs_text(w)!r}"
        return None
    if mnemonic is None or out_of_scope(w) or any(d.match(w) for d in CAPSTONE_ONLY):
        return None
    return f"{w:#010x}: UNALLOCATED for us, capstone says {cs_text(w)!r}"


def _draw(p, rng: random.Random, n: int) -> list:
    """Words matching p's fixed bits: random free bits, plus all-zero and all-one fields."""
    free = ~p.mask & 0xFFFFFFFF
    words = [p.value, p.value | free]
    words += [p.value | (rng.getrandbits(32) & free) for _ in range(n)]
    return words


# --------------------------------------------------------------------------------------------
# Tests


def test_generated_files_are_up_to_date():
    r = subprocess.run([sys.executable, "-m", "armvirt.isa.gen_decoder", "--check"],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_op_ids_and_tables():
    assert D.NOT_DECODED == 0 and D.UNALLOCATED == 1
    assert D.NUM_OPS == len(D.OP_NAMES) == len(D.OP_FILES) == len(D.IMPLEMENTED)
    assert D.OP_NAMES[:2] == ("NOT_DECODED", "UNALLOCATED")
    for p in TABLE.patterns:
        assert getattr(D, f"OP_{p.name}") == p.op and D.OP_NAMES[p.op] == p.name
        assert D.OP_FILES[p.op] == p.file
    assert set(ALLOWED) == set(TABLE.by_name), "every pattern needs its capstone mnemonics"


@pytest.mark.parametrize("name", [p.name for p in TABLE.patterns])
def test_pattern_against_capstone(name):
    """Random field values for one pattern: decode() follows the table's first-match
    semantics (predicates included) and capstone agrees with the outcome."""
    p = TABLE.by_name[name]
    rng = random.Random(name)
    hits = 0
    problems = []
    for w in _draw(p, rng, 300):
        op = D.decode(w)
        assert op == TABLE.reference_decode(w, PRED), f"{w:#010x}"
        hits += op == p.op
        problem = check_word(w)
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems[:20])
    assert hits, f"{name} never decoded: dead pattern or predicate always false"


def test_random_words_against_capstone():
    """200k uniformly random words, plus every pattern's words with one bit flipped (which
    probes the edges of the fixed bits), must satisfy check_word()."""
    rng = random.Random(20240611)
    words = [rng.getrandbits(32) for _ in range(200_000)]
    for p in TABLE.patterns:
        for w in _draw(p, rng, 24):
            words += [w ^ (1 << b) for b in range(32)]
    problems = [msg for msg in map(check_word, words) if msg]
    assert not problems, f"{len(problems)} disagreements:\n" + "\n".join(problems[:40])


@pytest.mark.parametrize("d", CAPSTONE_ONLY + OURS_ONLY, ids=lambda d: d.name)
def test_disagreements_are_real(d):
    """Each listed disagreement exists: its example matches and shows it."""
    assert d.match(d.example)
    ours = D.decode(d.example) != UNALLOCATED
    theirs = cs_mnemonic(d.example) is not None
    assert (ours, theirs) == ((False, True) if d in CAPSTONE_ONLY else (True, False))


def test_hint_space_is_all_hints():
    """Every HINT #imm (CRm:op2) decodes to a hint pattern: allocated hints by name, and the
    rest -- including FEAT_PAuth/BTI/ESB hints -- as HINT, which executes as NOP (C6.2 HINT)."""
    named = {0: "NOP", 1: "YIELD", 2: "WFE", 3: "WFI", 4: "SEV", 5: "SEVL"}
    for imm in range(128):
        w = 0xD503201F | (imm << 5)
        assert D.OP_NAMES[D.decode(w)] == named.get(imm, "HINT"), hex(w)


@pytest.mark.parametrize("conv", [int, np.int64, np.uint32])
def test_decode_accepts_integer_types(conv):
    for w, name in ((0x91000420, "ADDSUB_imm"), (0xD65F03C0, "RET"), (0xF9400020, "LDST_uimm"),
                    (0xD4000001, "SVC"), (0xFFFFFFFF, "UNALLOCATED")):
        assert D.OP_NAMES[D.decode(conv(w))] == name


def test_decode_without_jit():
    """decode() run as plain Python, as under NUMBA_DISABLE_JIT=1, agrees with the jitted one."""
    rng = random.Random(7)
    words = [rng.getrandbits(32) for _ in range(2000)]
    for p in TABLE.patterns:
        words += _draw(p, rng, 4)
    for w in words:
        assert D.decode.py_func(w) == D.decode(w), f"{w:#010x}"


# ---- generator ------------------------------------------------------------------------------


def _table_from(tmp_path: Path, text: str):
    (tmp_path / "t.decode").write_text(text)
    return G.load_table(tmp_path, G.PREDICATES_FILE)


@pytest.mark.parametrize("text, error", [
    ("A 0000 rd:5\n", "cover 9 bits"),
    ("A 1 x:31\nA 0 x:31\n", "duplicate pattern name"),
    ("A 1 x:31\nB . x:31\n", "overlaps A"),
    ("A 1 x:31 @trans_C\nB 0 y:31 @trans_C\n", "differ"),
    ("{\nA 1 x:31\nB 1 y:31\n}\n", "unreachable"),
    ("A 1 x:31 ?no_such_predicate\n", "not in predicates.py"),
    ("A 1 x:31 ?casp_ok\n", "wants"),
    ("{\nA 1 x:31\n", "not closed"),
    ("A 1 c:31\n", "reserved"),
])
def test_generator_rejects(tmp_path, text, error):
    with pytest.raises(G.DecodeTableError, match=error):
        _table_from(tmp_path, text)


def test_generator_group_first_match(tmp_path):
    t = _table_from(tmp_path, "{\nA 1111 x:28\nB 11 x:30\n}\nC 0 . y:30 k=7\n")
    pred: dict = {}
    assert [p.op for p in t.patterns] == [2, 3, 4]
    assert t.reference_decode(0xF0000000, pred) == 2
    assert t.reference_decode(0xC0000000, pred) == 3
    assert t.patterns[2].values(0x00000003) == {"y": 3, "k": 7}


def test_dispatch_extracts_fields(tmp_path):
    """Generate _dispatch.py against a throw-away handler package whose trans_* functions
    record their arguments, and run execute() as plain Python (py_func) on words of every
    pattern: each handler receives exactly the table's field values, sign-extended where
    declared; op 1 reaches undefined() and handler-less ops reach unimplemented()."""
    pkg = tmp_path / "fakeexec"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "common.py").write_text(
        "def undefined(c, M, pc):\n    c.append(('undefined', pc))\n"
        "def unimplemented(c, M, pc, op):\n    c.append(('unimplemented', op))\n")
    skipped = {"trans_UDF", "trans_LDOP"}
    handlers = {}
    for p in TABLE.patterns:
        handlers.setdefault(p.handler, p.arg_names)
    src = [f"def {h}({', '.join(('c', 'M', 'pc') + args)}):\n"
           f"    c.append(('{h}', ({''.join(a + ', ' for a in args)})))\n"
           for h, args in handlers.items() if h not in skipped]
    (pkg / "handlers.py").write_text("\n".join(src))
    out = G.generate(G.ISA_DIR, pkg, "fakeexec")
    (tmp_path / "fake_dispatch.py").write_text(out[G.DISPATCH_FILE])
    sys.path.insert(0, str(tmp_path))
    try:
        mod = importlib.import_module("fake_dispatch")
        execute = mod.execute.py_func
        # The SIMD&FP unit: its dispatcher as plain Python too, its access check passing.
        mod.execute_fpsimd = mod.execute_fpsimd.py_func
        mod.fp_access_check = lambda c, M, pc: True
        for p in TABLE.patterns:
            for w in _draw(p, random.Random(p.name), 20):
                c: list = []
                execute(p.op, w, c, None, 0x1000)
                want = tuple(p.values(w)[n] for n in p.arg_names)
                if p.handler in skipped:
                    assert c == [("unimplemented", p.op)]
                else:
                    assert c == [(p.handler, want)], f"{p.name} {w:#010x}"
        c = []
        execute(1, 0, c, None, 0x1000)
        assert c == [("undefined", 0x1000)]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("fake_dispatch", None)
        for mod in [m for m in sys.modules if m == "fakeexec" or m.startswith("fakeexec.")]:
            sys.modules.pop(mod)
