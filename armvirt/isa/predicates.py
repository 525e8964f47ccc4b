"""Allocation predicates of the A64 encoding table (``?pred`` in ``*.decode``).

Each predicate receives, by parameter name, some of its pattern's arguments (int64) and returns
True when the encoding is allocated, i.e. when the Arm ARM's decode pseudocode for the
instruction does not reach ``UNDEFINED`` / "unallocated".  Only encoding-level conditions live
here; CONSTRAINED UNPREDICTABLE register combinations (``Rt == Rt2`` for LDP, ``Rs == Rt`` for
STXR, ...) are allocated and handled by the executors.

The generated ``decode()`` calls these from jitted code, and the tests call them from Python.
"""

from armvirt.jit import njit


@njit(cache=True)
def logic_imm_ok(sf, N, imms):
    """Logical (immediate), C6.2 AND/ORR/EOR/ANDS (immediate): reserved when ``sf == 0 && N == 1``
    or when ``DecodeBitMasks(N, imms, immr, TRUE)`` is UNDEFINED: the element size
    ``len = HighestSetBit(N:NOT(imms))`` is < 1, or the run length fills the whole element
    (``imms<len-1:0>`` all ones, which would be all-ones, not encodable)."""
    if sf == 0 and N == 1:
        return False
    x = (N << 6) | (~imms & 0x3F)
    if x < 2:
        return False
    length = 0
    while (x >> (length + 1)) != 0:
        length += 1
    levels = (1 << length) - 1
    return (imms & levels) != levels


@njit(cache=True)
def movw_ok(sf, hw):
    """MOVN/MOVZ/MOVK: ``if sf == '0' && hw<1> == '1' then UNDEFINED`` (no shift by 32/48 for W)."""
    return sf == 1 or hw < 2


@njit(cache=True)
def bitfield_ok(sf, N, immr, imms):
    """SBFM/BFM/UBFM: ``if sf == '1' && N != '1' then UNDEFINED; if sf == '0' && (N != '0' ||
    immr<5> != '0' || imms<5> != '0') then UNDEFINED``.  With N == sf, DecodeBitMasks(...,
    FALSE) never hits its ``len < 1`` case."""
    if sf == 1:
        return N == 1
    return N == 0 and immr < 32 and imms < 32


@njit(cache=True)
def extr_ok(sf, N, imms):
    """EXTR: ``if N != sf then UNDEFINED; if sf == '0' && imms<5> == '1' then UNDEFINED``."""
    return N == sf and (sf == 1 or imms < 32)


@njit(cache=True)
def shift_imm_ok(sf, imm6):
    """Logical (shifted register): ``if sf == '0' && imm6<5> == '1' then UNDEFINED``."""
    return sf == 1 or imm6 < 32


@njit(cache=True)
def addsub_shift_ok(sf, shift, imm6):
    """Add/subtract (shifted register): ``if shift == '11' then UNDEFINED`` (no ROR) and
    ``if sf == '0' && imm6<5> == '1' then UNDEFINED``."""
    return shift != 3 and (sf == 1 or imm6 < 32)


@njit(cache=True)
def addsub_ext_ok(imm3):
    """Add/subtract (extended register): ``if shift > 4 then UNDEFINED`` (LSL #0..4 only)."""
    return imm3 <= 4


@njit(cache=True)
def crc32_ok(sf, sz):
    """CRC32/CRC32C: ``if sf == '1' && sz != '11' then UNDEFINED; if sf == '0' && sz == '11'
    then UNDEFINED`` (only the X forms take a 64-bit source)."""
    return (sz == 3) == (sf == 1)


@njit(cache=True)
def rev_ok(sf, opc):
    """Data-processing (1 source) REV16/REV32/REV: opc == 00 is RBIT (its own pattern) and
    ``opc == '11'`` with ``sf == '0'`` is unallocated (a 32-bit REV is opc == '10')."""
    return opc != 0 and (sf == 1 or opc != 3)


@njit(cache=True)
def dcps_ok(LL):
    """DCPS1/2/3: LL selects the target EL; ``LL == '00'`` is unallocated."""
    return LL != 0


@njit(cache=True)
def msr_imm_ok(op1, op2):
    """MSR (immediate), C6.2: the PSTATE fields of Armv8.0 are SPSel (op1=000, op2=101),
    DAIFSet (011, 110) and DAIFClr (011, 111); armvirt also implements FEAT_PAN (Armv8.1,
    PAN: op1=000, op2=100). Any other op1:op2 is UNDEFINED here (UAO, DIT, SSBS, TCO, CFINV...
    belong to later extensions that armvirt does not implement)."""
    return (op1 == 0 and (op2 == 5 or op2 == 4)) or (op1 == 3 and (op2 == 6 or op2 == 7))


@njit(cache=True)
def ldst_ok(size, opc):
    """Load/store register, general-purpose (all addressing forms): ``opc == '11'`` with
    ``size == '1x'`` is unallocated (no LDRSW into W, no 64-bit sign extension), and
    ``size:opc == '1110'`` is unallocated except in the forms where it is PRFM/PRFUM (those are
    separate patterns placed before the general one)."""
    if opc == 3:
        return size < 2
    return not (opc == 2 and size == 3)


@njit(cache=True)
def ldst_reg_ok(size, opc, option):
    """Load/store register (register offset): ``ldst_ok`` and ``if option<1> == '0' then
    UNDEFINED`` (the offset register extends with UXTW, LSL/UXTX, SXTW or SXTX only)."""
    return (option & 2) != 0 and ldst_ok(size, opc)


@njit(cache=True)
def prfm_reg_ok(option):
    """PRFM (register): ``if option<1> == '0' then UNDEFINED``."""
    return (option & 2) != 0


@njit(cache=True)
def ldst_fp_ok(size, opc):
    """Load/store SIMD&FP register: ``scale = opc<1>:size``; the 128-bit Q form is
    ``size == '00', opc == '1x'``, and ``opc<1> == '1'`` with any other size is unallocated."""
    return (opc & 2) == 0 or size == 0


@njit(cache=True)
def ldst_fp_reg_ok(size, opc, option):
    """Load/store SIMD&FP register (register offset): ``ldst_fp_ok`` and ``option<1> == '1'``."""
    return (option & 2) != 0 and ldst_fp_ok(size, opc)


@njit(cache=True)
def ldr_lit_fp_ok(opc):
    """LDR (literal, SIMD&FP): opc 00/01/10 load S/D/Q; ``opc == '11'`` is unallocated."""
    return opc != 3


@njit(cache=True)
def ldstp_ok(opc, L):
    """Load/store register pair: opc 00 (W) and 10 (X) in both directions, 01 only as LDPSW
    (``L == '1'``; opc=01 with L=0 is STGP of FEAT_MTE); opc 11 is unallocated."""
    return opc == 0 or opc == 2 or (opc == 1 and L == 1)


@njit(cache=True)
def ldstnp_ok(opc):
    """Load/store no-allocate pair: opc 00 (W) and 10 (X) only; there is no LDNPSW."""
    return opc == 0 or opc == 2


@njit(cache=True)
def ldstp_fp_ok(opc):
    """Load/store SIMD&FP pair: opc 00/01/10 are S/D/Q pairs; ``opc == '11'`` is unallocated."""
    return opc != 3


@njit(cache=True)
def casp_ok(Rs, Rt):
    """CASP: ``if Rs<0> == '1' then UNDEFINED; if Rt<0> == '1' then UNDEFINED`` (even pairs)."""
    return (Rs & 1) == 0 and (Rt & 1) == 0


@njit(cache=True)
def fmov_gen_ok(sf, ftype, rmode, opcode):
    """FMOV (general) of Armv8.0: opcode 110 (FP -> general) / 111 (general -> FP) with
    sf:ftype:rmode = 0:00:00 (Wd <-> Sn), 1:01:00 (Xd <-> Dn) or 1:10:01 (Xd <-> Vn.D[1]).
    The Hd forms (ftype == '11', FEAT_FP16) and the conversions sharing this encoding class
    (SCVTF, FCVT*: ``FP_int``; FJCVTZS, a later extension) are not FMOV."""
    if opcode != 6 and opcode != 7:
        return False
    if sf == 0:
        return ftype == 0 and rmode == 0
    return (ftype == 1 and rmode == 0) or (ftype == 2 and rmode == 1)


# ---------------------------------------------------------------------------------------------
# SIMD&FP data processing (fp.decode, simd_fp.decode). Armv8.0: no FEAT_FP16 arithmetic, so a
# half-precision ptype/size is unallocated except in the FCVT conversions.
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def fp_ptype_ok(ptype):
    """Scalar FP with ``ptype`` 00 (S) or 01 (D); 10 is reserved, 11 (H) is FEAT_FP16."""
    return ptype < 2


@njit(cache=True)
def fp_1src_ok(ptype, opcode):
    """FP data-processing (1 source): FMOV/FABS/FNEG/FSQRT (0-3), FCVT (0001 opc, opc != 10 and
    != ptype: H/S/D in any direction), FRINTN/P/M/Z/A (8-12), FRINTX/I (14, 15). Half only as
    an FCVT source (FRINT32/64 and BFCVT are later extensions)."""
    if ptype == 2:
        return False
    if 4 <= opcode <= 7:
        opc = opcode & 3
        return opc != 2 and opc != ptype
    if ptype == 3:
        return False
    return opcode <= 3 or (8 <= opcode <= 15 and opcode != 13)


@njit(cache=True)
def fp_2src_ok(ptype, opcode):
    """FP data-processing (2 source): FMUL..FMINNM (0-7) and FNMUL (8)."""
    return ptype < 2 and opcode <= 8


@njit(cache=True)
def fp_fixed_ok(sf, ptype, rmode, opcode, scale):
    """Conversion between FP and fixed point: SCVTF/UCVTF (rmode 00, opcode 010/011) and
    FCVTZS/FCVTZU (rmode 11, opcode 000/001); ``sf == 0 && scale<5> == 0`` is UNDEFINED."""
    if ptype >= 2 or (sf == 0 and scale < 32):
        return False
    if rmode == 0:
        return opcode == 2 or opcode == 3
    return rmode == 3 and opcode < 2


@njit(cache=True)
def fp_int_ok(ptype, rmode, opcode):
    """Conversion between FP and integer (without FMOV): FCVT[NPMZ][SU] (opcode 000/001, any
    rmode), SCVTF/UCVTF (010/011) and FCVTA[SU] (100/101) with rmode 00."""
    if ptype >= 2:
        return False
    return opcode < 2 or (opcode < 6 and rmode == 0)


@njit(cache=True)
def simd_fp_3same_ok(Q, U, a, sz, op, scalar):
    """AdvSIMD (scalar) three same, FP part (opcode 11xxx): the allocated U:a:opcode combinations
    of the Arm ARM table; a vector with ``sz:Q == '10'`` (1D) is reserved."""
    if scalar:
        m = (0x98, 0x80, 0x30, 0x34)[U * 2 + a]
    else:
        if sz == 1 and Q == 0:
            return False
        m = (0xDF, 0xC7, 0xFD, 0x75)[U * 2 + a]
    return (m >> op) & 1 == 1


@njit(cache=True)
def simd_fp_2misc_ok(Q, U, a, sz, opcode, scalar):
    """AdvSIMD (scalar) two-register miscellaneous, FP part (the decode patterns fix ``a`` and
    ``opcode``): the U-dependent holes of the table, FCVTXN only from double, and ``sz:Q ==
    '10'`` reserved for same-size vector operations."""
    if opcode == 0b10110:  # FCVTN / FCVTXN (scalar: FCVTXN only)
        return (U == 0 and not scalar) or sz == 1 and (U == 1 or not scalar)
    if opcode == 0b10111:  # FCVTL
        return U == 0 and not scalar
    if scalar:
        if opcode == 0b01110 or opcode == 0b11111:  # FCMLT #0; FRECPX
            return U == 0
        return opcode != 0b01111 and (opcode & 0b11110) != 0b11000
    if sz == 1 and Q == 0:
        return False
    if opcode == 0b01110 or (opcode == 0b11000 and a == 1):  # FCMLT #0; FRINTP
        return U == 0
    if opcode == 0b11111:  # FSQRT
        return U == 1
    return True


@njit(cache=True)
def simd_fp_elem_ok(Q, U, sz, L, op, scalar):
    """AdvSIMD (scalar) x indexed element, FP: FMLA/FMLS only with U = 0 (U = 1 is FCMLA, a later
    extension); a double element has ``L == 0`` and, as a vector, ``Q == 1``."""
    if op < 2 and U == 1:
        return False
    if sz == 1 and (L == 1 or (Q == 0 and not scalar)):
        return False
    return True


@njit(cache=True)
def simd_fp_pairwise_ok(a, op):
    """AdvSIMD scalar pairwise, FP (U = 1): FMAXNMP/FMINNMP (00), FADDP (01, a = 0), FMAXP/FMINP
    (11)."""
    return op == 0 or op == 3 or (op == 1 and a == 0)


@njit(cache=True)
def simd_fp_across_ok(Q, sz, op):
    """AdvSIMD across lanes, FP (U = 1): FMAXNMV/FMINNMV (00) and FMAXV/FMINV (11), 4S only."""
    return Q == 1 and sz == 0 and (op == 0 or op == 3)


@njit(cache=True)
def simd_fmov_imm_ok(Q, op):
    """FMOV (vector, immediate): the double form (op = 1) needs Q = 1."""
    return op == 0 or Q == 1


@njit(cache=True)
def simd_fp_cvt_fixed_ok(Q, esz, scalar):
    """AdvSIMD shift by immediate, fixed-point conversions: 2D needs Q = 1."""
    return scalar == 1 or esz == 32 or Q == 1


# ---- Advanced SIMD, integer (simd.decode, simd_ldst.decode) ----------------------------------
# The Arm ARM's decode pseudocode of each instruction, reduced to "which size/Q/U combinations
# are UNDEFINED".  ``scalar`` marks the AdvSIMD scalar forms of a class.

@njit(cache=True)
def adv3same_ok(Q, U, size, opcode, hi, scalar):
    """Three same (integer opcodes 00000..10111) and AdvSIMD scalar three same."""
    o = hi + opcode
    if scalar:
        if o == 1 or o == 5 or o == 9 or o == 11:       # SQADD SQSUB SQSHL SQRSHL (and U)
            return True
        if o == 6 or o == 7 or o == 8 or o == 10 or o == 16 or o == 17:
            return size == 3                            # CMGT CMGE SSHL SRSHL ADD CMTST (and U)
        if o == 22:
            return size == 1 or size == 2               # SQDMULH / SQRDMULH
        return False
    if o == 3:
        return True                                     # logical: size selects the operation
    if o == 19 and U == 1:
        return size == 0                                # PMUL
    if o == 22:
        return size == 1 or size == 2
    if o == 23 and U == 1:
        return False
    if o in (1, 5, 6, 7, 8, 9, 10, 11, 16, 17, 23):
        return size != 3 or Q == 1                      # 64-bit lanes only in a 128-bit vector
    return size != 3


@njit(cache=True)
def adv3diff_ok(U, size, opcode, scalar):
    """Three different and AdvSIMD scalar three different (SQDMLAL, SQDMLSL, SQDMULL).  PMULL
    with size = 11 (64-bit polynomial) is FEAT_PMULL, part of the crypto extension: not here."""
    if opcode == 9 or opcode == 11 or opcode == 13:
        return U == 0 and (size == 1 or size == 2)
    if scalar:
        return False
    if opcode == 14:
        return U == 0 and size == 0
    if opcode == 15:
        return False
    return size != 3


@njit(cache=True)
def adv2misc_ok(Q, U, size, opcode, hi, scalar):
    """Two-register miscellaneous (integer opcodes) and AdvSIMD scalar two-register misc."""
    o = hi + opcode
    if scalar:
        if o == 3 or o == 7:                            # SUQADD/USQADD, SQABS/SQNEG
            return True
        if o == 8 or o == 9 or o == 11 or (o == 10 and U == 0):
            return size == 3                            # CMxx #0, ABS/NEG
        if o == 18:
            return U == 1 and size != 3                 # SQXTUN
        if o == 20:
            return size != 3                            # SQXTN/UQXTN
        return False
    if o == 0:
        return size != 3 if U == 0 else size < 2        # REV64 / REV32
    if o == 1:
        return U == 0 and size == 0                     # REV16
    if o == 5:
        return size == 0 if U == 0 else size < 2        # CNT / NOT, RBIT
    if o == 2 or o == 4 or o == 6 or o == 18 or o == 20:
        return size != 3
    if o == 19:
        return U == 1 and size != 3                     # SHLL
    if o == 10 and U == 1:
        return False
    if o == 28:
        return size == 0                                # URECPE/URSQRTE: size<0> (sz) = 0
    return size != 3 or Q == 1                          # SUQADD SQABS CMxx #0 ABS (and U)


@njit(cache=True)
def advacross_ok(Q, U, size, opcode, o):
    """Across lanes: SADDLV/UADDLV, SMAXV/UMAXV, SMINV/UMINV, ADDV (U = 0)."""
    if opcode == 26 and o == 1 and U == 1:
        return False
    return size != 3 and not (size == 2 and Q == 0)


@njit(cache=True)
def advcopy_ok(Q, op, imm5, imm4, scalar):
    """Copy (DUP, INS, SMOV, UMOV) and scalar DUP (element): imm5 = x0000 is reserved."""
    if imm5 & 15 == 0:
        return False
    size = 0
    while (imm5 >> size) & 1 == 0:
        size += 1
    if scalar:
        return True
    if op == 1:
        return Q == 1                                   # INS (element)
    if imm4 == 0 or imm4 == 1:                          # DUP (element), DUP (general)
        return not (size == 3 and Q == 0)
    if imm4 == 3:
        return Q == 1                                   # INS (general)
    if imm4 == 5:
        return size < 2 + Q and size < 3                # SMOV: W from B/H, X from B/H/S
    if imm4 == 7:
        return size == 3 if Q else size < 3             # UMOV: W from B/H/S, X from D
    return False


@njit(cache=True)
def advzip_ok(Q, size, opcode):
    """UZP1/TRN1/ZIP1/UZP2/TRN2/ZIP2 (opcode 000 and 100 are unallocated)."""
    return (opcode & 3) != 0 and not (size == 3 and Q == 0)


@njit(cache=True)
def advext_ok(Q, imm4):
    """EXT: ``if Q == '0' && imm4<3> == '1' then UNDEFINED``."""
    return Q == 1 or imm4 < 8


@njit(cache=True)
def advshift_ok(Q, U, immh, opcode, hi, scalar):
    """Shift by immediate (integer opcodes 0xxxx, 10xxx) and AdvSIMD scalar shift by immediate.
    immh = 0000 (vector) is the modified-immediate class, matched first in its group."""
    o = hi + opcode
    if immh == 0:
        return False
    if o == 8 or o == 12:                               # SRI, SQSHLU: U = 1 only
        if U == 0:
            return False
    elif o > 20 or (o & 1 and o < 16):
        return False
    if scalar:
        if o <= 10:
            return immh >= 8                            # 64-bit only
        if o == 12 or o == 14:
            return True
        if o == 20 or ((o == 16 or o == 17) and U == 0):
            return False
        return immh < 8                                 # narrowing: SQSHRN ... SQRSHRUN
    if o >= 16:
        return immh < 8                                 # narrowing and SSHLL: source < 64 bits
    return immh < 8 or Q == 1


@njit(cache=True)
def advelem_ok(U, size, opcode, k, scalar):
    """Vector and scalar x indexed element, integer opcodes (see simd.decode for k)."""
    if k == 0:
        o = opcode << 1
    elif k == 1:
        o = (opcode << 2) | 3
    else:
        o = 13
    if size != 1 and size != 2:
        return False
    if o == 3 or o == 7 or o == 11 or o == 12 or o == 13:
        return U == 0                                   # SQDMLAL SQDMLSL SQDMULL SQDMULH SQRDMULH
    if scalar:
        return False
    if o == 0 or o == 4:
        return U == 1                                   # MLA, MLS
    if o == 8:
        return U == 0                                   # MUL
    return o == 2 or o == 6 or o == 10                  # [SU]MLAL, [SU]MLSL, [SU]MULL


@njit(cache=True)
def ldst_multi_ok(Q, opcode, size):
    """LD1-4/ST1-4 (multiple structures): opcodes 0000 LD4, 0010 LD1x4, 0100 LD3, 0110 LD1x3,
    0111 LD1x1, 1000 LD2, 1010 LD1x2; ``size:Q == '110'`` is reserved for LD2/LD3/LD4."""
    if opcode == 0 or opcode == 4 or opcode == 8:
        return not (size == 3 and Q == 0)
    return opcode == 2 or opcode == 6 or opcode == 7 or opcode == 10


@njit(cache=True)
def ldst_single_ok(L, opcode, S, size):
    """LD1-4/ST1-4 (single structure) and LD1R-LD4R: the size/S constraints of each scale."""
    scale = opcode >> 1
    if scale == 3:
        return L == 1 and S == 0                        # replicate: loads only
    if scale == 1:
        return size & 1 == 0                            # H
    if scale == 2:
        return size == 0 or (size == 1 and S == 0)      # S, or D
    return True
