"""Every data access and instruction fetch of the core goes through here.

Layers, top to bottom:

* ``mem_read`` / ``mem_write`` — virtual accesses made by instructions: alignment checks
  (SCTLR_ELx.A, ordered/exclusive/atomic accesses, Device memory), translation, the guest's
  own watchpoints (``armvirt/cpu/debug.py``: a page one could watch is kept out of the
  data-page caches, so every access to it comes here), then the physical access. On a fault they take the architectural exception and return ``ok = False``;
  the handler then returns without writing any register.
* ``translate`` — the seam for the MMU. With stage 1 off and no stage 2 it is the flat map of
  AArch64.TranslateAddress with the MMU disabled (an address above the implemented PA size is an
  Address size fault at level 0). The two-stage walker plugs in here.
* ``phys_read`` / ``phys_write`` — RAM (with decode-cache invalidation on stores), flash reads
  in read-array mode, in-core devices (PL011), and everything else handed to Python by
  *replay*: the access exits the run loop with an MMIO record, Python answers, and the
  instruction is executed again, consuming the answers in order (``layout.MMIO_RESP``). An
  address no device claims is an external abort.

Flash (``--bios``): the two CFI banks live in the RAM arrays after RAM (``layout.RAM_BYTES``),
so that a bank in read-array mode is read, fetched and decoded exactly like RAM — firmware
executes in place at full speed. As QEMU's pflash "romd" mode, only that mode is in the core:
every write (a CFI command) and every read in another mode (status, query, ID) goes to the
device in Python (``armvirt/pflash.py``), which clears the bank's ``FLASH_ROMD`` bit while it
is out of read-array mode.
"""
import numpy as np

from armvirt.jit import njit

from armvirt import layout as L
from armvirt import memmap
from armvirt.cpu import _sysregs as SR
from armvirt.cpu import mmu
from armvirt.cpu.mmu import (ACC_CM, ACC_FETCH, ACC_UNPRIV, ACC_WRITE, FSC_ALIGNMENT,
                             FSC_EXTERNAL, PA_LIMIT)
from armvirt.cpu.exceptions import (EC_DABT_LOWER, EC_DABT_SAME, EC_IABT_LOWER, EC_IABT_SAME,
                                    EC_SP_ALIGN, HCR_TGE, default_target_el, raise_sync)
from armvirt.cpu.debug import ACC_RMW, watchpoint_check, watchpoint_on_page  # noqa: F401
from armvirt.cpu.sysreg_table import CTR
from armvirt.devices.gic import gic_claims, gic_mmio_read, gic_mmio_write
from armvirt.devices.pmu_counter import pmu_mem_access, pmu_mem_watched
from armvirt.devices.pl011 import pl011_read, pl011_write

# Access descriptor bits (the ``acc`` argument): ACC_WRITE, ACC_UNPRIV, ACC_CM and ACC_FETCH
# come from armvirt.cpu.mmu (the walk checks them); these matter before and after it.
ACC_ATOMIC = 1 << 2     # exclusive or atomic: must be aligned, no instruction syndrome
ACC_ORDERED = 1 << 3    # acquire/release: must be aligned
ACC_ISV = 1 << 8        # the access provides an instruction syndrome (ISS[24:14] below)
# ISS fields for ISV = 1 (D17.2.37 ISS encoding for a Data Abort), stored from bit 9 upwards:
ACC_SAS_SHIFT = 9       # 2 bits: log2(size)
ACC_SSE = 1 << 11       # sign-extending load
ACC_SRT_SHIFT = 12      # 5 bits: the transfer register
ACC_SF = 1 << 17        # 64-bit register
ACC_AR = 1 << 18        # acquire/release


@njit(cache=True, inline="always")
def acc_iss(size_log2, sign_extend, rt, sf, acq_rel):
    """Access bits carrying the instruction syndrome of a single-register load/store."""
    a = ACC_ISV | (size_log2 << ACC_SAS_SHIFT) | (rt << ACC_SRT_SHIFT)
    if sign_extend:
        a |= ACC_SSE
    if sf:
        a |= ACC_SF
    if acq_rel:
        a |= ACC_AR
    return a


@njit(cache=True)
def data_abort(c, M, va, acc, fsc, target_el, s2):
    """Take a Data Abort (EC 0x24/0x25) with the ISS of D17.2.37."""
    iss = fsc
    if acc & ACC_WRITE and not (acc & ACC_CM):
        iss |= 1 << 6                    # WnR
    if acc & ACC_CM:
        iss |= (1 << 8) | (1 << 6)       # CM; cache maintenance reports WnR = 1
    # The instruction syndrome is reported only for stage 2 aborts (ISV is 0 for stage 1).
    if s2 and (acc & ACC_ISV) and not (acc & ACC_ATOMIC):
        iss |= (1 << 24) | (((acc >> ACC_SAS_SHIFT) & 3) << 22) | (((acc >> ACC_SRT_SHIFT) & 31) << 16)
        if acc & ACC_SSE:
            iss |= 1 << 21
        if acc & ACC_SF:
            iss |= 1 << 15
        if acc & ACC_AR:
            iss |= 1 << 14
    ec = EC_DABT_LOWER if target_el > c[L.EL] else EC_DABT_SAME
    raise_sync(c, M, target_el, ec, iss, c[L.PC] - 4, va)


@njit(cache=True)
def instruction_abort(c, M, va, fsc, target_el):
    ec = EC_IABT_LOWER if target_el > c[L.EL] else EC_IABT_SAME
    raise_sync(c, M, target_el, ec, fsc, va, va)


@njit(cache=True, inline="always")
def regime_sctlr(c):
    """SCTLR of the current translation regime: SCTLR_EL2 at EL2, else SCTLR_EL1."""
    if c[L.EL] == 2:
        return c[SR.SCTLR_EL2]
    return c[SR.SCTLR_EL1]


@njit(cache=True)
def translation_fault(c, M, va, acc, f, ipa):
    """Take the abort for a fault word of armvirt.cpu.mmu (AArch64.Abort): stage 1 faults go to
    the regime's EL (EL1, or EL2 at EL2 or under HCR_EL2.TGE), stage 2 faults to EL2 with
    HPFAR_EL2.FIPA = IPA<47:12>. ISS: the fault status code, S1PTW, and for data aborts WnR
    (0 for a walk's own read, which S1PTW faults are), CM, and the instruction syndrome."""
    fsc = f & mmu.F_FSC_MASK
    s2 = (f & mmu.F_STAGE2) != 0
    s1ptw = (f & mmu.F_S1PTW) != 0
    if s2:
        target = 2
        c[SR.HPFAR_EL2] = ((ipa >> 12) & ((1 << 36) - 1)) << 4
    else:
        target = default_target_el(c)
    if acc & ACC_FETCH:
        instruction_abort(c, M, va, fsc | (s1ptw << 7), target)
    else:
        if s1ptw:
            acc &= ~(ACC_WRITE | ACC_ISV)
        data_abort(c, M, va, acc, fsc | (s1ptw << 7), target, s2 and not s1ptw)


@njit(cache=True)
def translate(c, M, va, acc, size):
    """Translate a virtual address for an access from the current EL (AArch64.TranslateAddress);
    -1 after taking a fault. ``c[XLAT_INFO]`` receives the info word of the translation (memory
    type, for the Device-memory alignment rule).

    With every stage off this is the flat map of AArch64.S1DisabledOutput (an address above the
    PA size is a level 0 Address size fault); otherwise armvirt.cpu.mmu looks the address up in
    the TLB or walks the tables. An unaligned access to Device memory is an Alignment fault,
    which the Arm ARM checks before the permissions of the same stage."""
    el = c[L.EL]
    regime, s1on, s2on = mmu.regime_controls(c, el)
    if not (s1on or s2on):
        if va < 0 or va >= PA_LIMIT:
            pa = mmu.strip_tag(va, mmu.addr_top(c, va, regime))  # TCR.TBI applies MMU-off too
            if pa < 0 or pa >= PA_LIMIT:
                translation_fault(c, M, va, acc, mmu.fault_word(mmu.FSC_ADDR_SIZE, 0, False,
                                                                False), 0)
                return -1
            va = pa
        info = mmu.s1_off_info(c, acc, regime)
        if (va & (size - 1)) and (info & mmu.I_DEVICE):
            translation_fault(c, M, va, acc, mmu.alignment_fault(info), 0)
            return -1
        c[L.XLAT_INFO] = info
        return va
    f, pa, ipa, info = mmu.translate_mmu(c, M, va, acc, el, regime, s1on, s2on)
    if (va & (size - 1)) and (info & mmu.I_DEVICE) and not (acc & ACC_FETCH):
        # Alignment comes before the same stage's permission check: it replaces no fault, a
        # stage 2 permission fault, or a stage 1 one when stage 1 made the memory Device.
        if f == 0 or ((f & mmu.F_FSC_MASK) & ~3 == mmu.FSC_PERMISSION and
                      (f & mmu.F_STAGE2 or info & mmu.I_S1_DEVICE)):
            f = mmu.alignment_fault(info)
    if f:
        translation_fault(c, M, va, acc, f, ipa)
        return -1
    c[L.XLAT_INFO] = info
    return pa


@njit(cache=True)
def check_alignment(c, M, va, size, acc):
    """The alignment checks made before translation (AArch64.CheckAlignment): SCTLR_ELx.A,
    and exclusive/atomic/ordered accesses, which must always be aligned. (Device memory's own
    rule needs the memory type, so ``translate`` applies it.) True when no fault was taken."""
    if va & (size - 1) == 0:
        return True
    if (acc & (ACC_ATOMIC | ACC_ORDERED)) or (regime_sctlr(c) & 2):
        data_abort(c, M, va, acc, FSC_ALIGNMENT, default_target_el(c), False)
        return False
    return True


@njit(cache=True)
def check_alignment_q(c, M, va, acc):
    """The alignment rule for a 16-byte SIMD&FP element, which is carried out as two 8-byte
    accesses: as ``check_alignment``, and for Device memory (which needs the translation) as
    one 16-byte access."""
    if not check_alignment(c, M, va, 16, acc):
        return False
    return (va & 15) == 0 or translate(c, M, va, acc, 16) >= 0


@njit(cache=True)
def check_sp_alignment(c, M, pc):
    """SP alignment check (SCTLR_ELx.SA / SA0) for an access using SP as the base register."""
    if c[L.SP] & 0xF == 0:
        return True
    el = c[L.EL]
    sctlr = regime_sctlr(c)
    bit = 4 if el == 0 else 3
    if (sctlr >> bit) & 1:
        raise_sync(c, M, default_target_el(c), EC_SP_ALIGN, 0, pc, 0)
        return False
    return True


# ---------------------------------------------------------------------------------------------
# RAM
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def ram_load(M, off, size):
    """Little-endian load of ``size`` bytes at RAM offset ``off`` (bounds already checked)."""
    if size == 8 and off & 7 == 0:
        return M[L.M_RAM64][off >> 3]
    if size == 4 and off & 3 == 0:
        return (M[L.M_RAM64][off >> 3] >> ((off & 4) << 3)) & 0xFFFFFFFF
    ram = M[L.M_RAM8]
    if size == 1:
        return np.int64(ram[off])
    v = np.int64(0)
    for i in range(size):
        v |= np.int64(ram[off + i]) << (8 * i)
    return v


@njit(cache=True, inline="always")
def ram_store(M, off, size, value):
    """Little-endian store of the low ``size`` bytes of ``value`` at RAM offset ``off``."""
    if size == 8 and off & 7 == 0:
        M[L.M_RAM64][off >> 3] = value
    elif size == 4 and off & 3 == 0:
        r64 = M[L.M_RAM64]
        sh = (off & 4) << 3
        r64[off >> 3] = (r64[off >> 3] & ~(0xFFFFFFFF << sh)) | ((value & 0xFFFFFFFF) << sh)
    else:
        ram = M[L.M_RAM8]
        for i in range(size):
            ram[off + i] = (value >> (8 * i)) & 0xFF
    # Self-modifying code: forget the decoded form of every word touched.
    dc = M[L.M_DCACHE]
    dc[off >> 2] = 0
    dc[(off + size - 1) >> 2] = 0


@njit(cache=True, inline="always")
def ram_size(M):
    """Bytes of RAM (the RAM arrays also hold the flash banks after it, when there are any)."""
    return M[L.M_MACH][L.RAM_BYTES]


@njit(cache=True, inline="always")
def flash_offset(M, pa, size):
    """Offset in the RAM arrays of [pa, pa+size) in a flash bank that is in read-array mode
    (``FLASH_ROMD``), or -1: everything else about flash is the Python device's."""
    if pa < 0 or pa >= memmap.FLASH_BASE + memmap.FLASH_SIZE:
        return -1
    off = pa - memmap.FLASH_BASE
    bank = off // memmap.FLASH_BANK_SIZE
    if not (M[L.M_MACH][L.FLASH_ROMD] >> bank) & 1:
        return -1
    if (off % memmap.FLASH_BANK_SIZE) + size > memmap.FLASH_BANK_SIZE:
        return -1
    return ram_size(M) + off


@njit(cache=True)
def array_to_pa(M, off):
    """The physical address of offset ``off`` of the RAM arrays (RAM, then the flash banks)."""
    if off < ram_size(M):
        return off + memmap.RAM_BASE
    return off - ram_size(M) + memmap.FLASH_BASE


# ---------------------------------------------------------------------------------------------
# Python devices, by replay
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def python_mmio(c, M, pa, size, is_write, value, va, acc):
    """Access number k of this instruction to a device modelled in Python.

    Returns (state, value): state 1 = done (value for a load), 0 = the run loop must exit so
    Python can answer (the instruction will be replayed), 2 = external abort taken.
    """
    mach = M[L.M_MACH]
    k = c[L.MMIO_SEQ]
    c[L.MMIO_SEQ] = k + 1
    if k < mach[L.MMIO_RESP_N]:
        c[L.ATTN] = 1  # when the instruction completes, the loop clears the used answers
        if (mach[L.MMIO_RESP_ABORT] >> k) & 1:
            if acc & ACC_FETCH:
                instruction_abort(c, M, va, FSC_EXTERNAL, default_target_el(c))
            else:
                data_abort(c, M, va, acc, FSC_EXTERNAL, default_target_el(c), False)
            return 2, 0
        c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_MMIO]  # charged once, when the access completes
        return 1, mach[L.MMIO_RESP + k]
    if k >= L.MMIO_RESP_MAX:
        mach[L.EXIT_CODE] = L.EXIT_INTERNAL
        mach[L.EXIT_AUX] = 2  # INTERNAL_MMIO_TOO_MANY
    else:
        mach[L.EXIT_CODE] = L.EXIT_MMIO
    mach[L.EXIT_PE] = c[L.PE_INDEX]
    mach[L.EXIT_ADDR] = pa
    mach[L.EXIT_SIZE] = size
    mach[L.EXIT_WRITE] = 1 if is_write else 0
    mach[L.EXIT_VALUE] = value
    c[L.ATTN] = 1
    return 0, 0


# ---------------------------------------------------------------------------------------------
# Physical accesses
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def phys_read(c, M, pa, size, va, acc):
    off = pa - memmap.RAM_BASE
    if off >= 0 and off + size <= ram_size(M):
        return True, ram_load(M, off, size)
    foff = flash_offset(M, pa, size)
    if foff >= 0:
        return True, ram_load(M, foff, size)
    if memmap.UART_BASE <= pa < memmap.UART_BASE + memmap.UART_SIZE:
        c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_MMIO]
        return True, pl011_read(c, M, pa - memmap.UART_BASE, size)
    if gic_claims(M, pa):
        c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_MMIO]
        return True, gic_mmio_read(M, pa, size)
    st, v = python_mmio(c, M, pa, size, False, 0, va, acc)
    return st == 1, v


@njit(cache=True)
def phys_write(c, M, pa, size, value, va, acc):
    off = pa - memmap.RAM_BASE
    if off >= 0 and off + size <= ram_size(M):
        ram_store(M, off, size, value)
        return True
    if memmap.UART_BASE <= pa < memmap.UART_BASE + memmap.UART_SIZE:
        c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_MMIO]
        pl011_write(c, M, pa - memmap.UART_BASE, size, value)
        return True
    if gic_claims(M, pa):
        c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_MMIO]
        gic_mmio_write(M, pa, size, value)
        return True
    st, _ = python_mmio(c, M, pa, size, True, value, va, acc)
    return st == 1


# ---------------------------------------------------------------------------------------------
# Virtual accesses made by instructions
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def mem_read(c, M, va, size, acc):
    """Load ``size`` (1, 2, 4, 8) bytes at ``va``, little-endian, zero-extended.
    Returns (ok, value); on a fault the exception has been taken.

    Inlined into every handler: a naturally aligned access on the page of the last RAM load is
    one compare and one array load; anything else goes through ``mem_read_slow``."""
    if (va & (size - 1)) == 0 and (va >> 12) == c[L.DATA_RPAGE] and not (acc & ACC_UNPRIV):
        return True, ram_load(M, va + c[L.DATA_RDELTA], size)
    return mem_read_slow(c, M, va, size, acc)


@njit(cache=True)
def watchpoint_hit(c, M, va, size, kind):
    """Does the access [va, va+size) of kind WP_READ/WP_WRITE touch an armed watchpoint?
    If so, request the exit: the instruction is rewound and Python reports it."""
    S = M[L.M_MACH]
    if S[L.WP_SUSPEND]:
        return False
    for i in range(S[L.WP_COUNT]):
        r = L.S_WP + i * L.WP_WIDTH
        if (S[r + 2] & kind) and va < S[r + 1] and S[r] < va + size and (S[r + 3] >> c[L.EL]) & 1:
            if S[L.EXIT_CODE] == L.EXIT_NONE:
                S[L.EXIT_CODE] = L.EXIT_WATCHPOINT
                S[L.EXIT_PE] = c[L.PE_INDEX]
                S[L.EXIT_ADDR] = va
                S[L.EXIT_SIZE] = size
                S[L.EXIT_WRITE] = 1 if kind == L.WP_WRITE else 0
                S[L.EXIT_AUX] = i
            c[L.ATTN] = 1
            return True
    return False


@njit(cache=True)
def page_watched(M, va):
    """A page with a watchpoint is never entered in the data-page caches, so that every access
    to it takes the slow path, which checks the watchpoints."""
    S = M[L.M_MACH]
    page = va >> 12
    for i in range(S[L.WP_COUNT]):
        r = L.S_WP + i * L.WP_WIDTH
        if (S[r] >> 12) <= page <= ((S[r + 1] - 1) >> 12):
            return True
    return False


@njit(cache=True)
def mem_read_slow(c, M, va, size, acc):
    if M[L.M_MACH][L.WP_COUNT] and watchpoint_hit(c, M, va, size, L.WP_READ):
        return False, 0
    if not check_alignment(c, M, va, size, acc):
        return False, 0
    if (va & 0xFFF) + size > 0x1000:
        ok, v = _read_across_pages(c, M, va, size, acc)
    else:
        pa = translate(c, M, va, acc, size)
        if pa < 0:
            return False, 0
        if c[L.DBG] & L.DBG_WP and watchpoint_on_page(c, va):
            if not watchpoint_check(c, M, va, size, acc):
                return False, 0
            ok, v = phys_read(c, M, pa, size, va, acc)   # no data page cached: watched
        else:
            off = pa - memmap.RAM_BASE
            if 0 <= off and off + size <= ram_size(M) and not (acc & ACC_UNPRIV) and \
                    not (M[L.M_MACH][L.WP_COUNT] and page_watched(M, va)) and \
                    not pmu_mem_watched(c, M):
                c[L.DATA_RPAGE] = va >> 12
                c[L.DATA_RDELTA] = off - va
            ok, v = phys_read(c, M, pa, size, va, acc)
    if ok:
        pmu_mem_access(c, M)   # the PMU's MEM_ACCESS event (nothing unless it is counted)
    return ok, v


@njit(cache=True)
def _translate_pair(c, M, va, size, acc):
    """Both pages of an access that crosses a 4 KiB boundary, translated before anything is
    accessed (a fault on the second page leaves the first untouched; FAR is then the first
    address on the second page). Returns (pa of va, pa of the second page) or -1s."""
    pa1 = translate(c, M, va, acc, size)
    if pa1 < 0:
        return -1, -1
    pa2 = translate(c, M, (va | 0xFFF) + 1, acc, 1)
    return pa1, pa2


@njit(cache=True)
def _read_across_pages(c, M, va, size, acc):
    pa1, pa2 = _translate_pair(c, M, va, size, acc)
    if pa2 < 0:
        return False, 0
    if c[L.DBG] & L.DBG_WP and not watchpoint_check(c, M, va, size, acc):
        return False, 0
    n1 = 0x1000 - (va & 0xFFF)
    v = np.int64(0)
    for i in range(size):
        pa = pa1 + i if i < n1 else pa2 + (i - n1)
        ok, b = phys_read(c, M, pa, 1, va + i, acc)
        if not ok:
            return False, 0
        v |= b << (8 * i)
    return True, v


@njit(cache=True, inline="always")
def mem_write(c, M, va, size, value, acc):
    """Store the low ``size`` bytes of ``value`` at ``va``. Returns ok (see ``mem_read``)."""
    if (va & (size - 1)) == 0 and (va >> 12) == c[L.DATA_WPAGE] and not (acc & ACC_UNPRIV):
        ram_store(M, va + c[L.DATA_WDELTA], size, value)
        return True
    return mem_write_slow(c, M, va, size, value, acc)


@njit(cache=True)
def mem_write_slow(c, M, va, size, value, acc):
    if M[L.M_MACH][L.WP_COUNT] and watchpoint_hit(c, M, va, size, L.WP_WRITE):
        return False
    acc |= ACC_WRITE
    if not check_alignment(c, M, va, size, acc):
        return False
    if (va & 0xFFF) + size > 0x1000:
        pa1, pa2 = _translate_pair(c, M, va, size, acc)
        if pa2 < 0:
            return False
        if c[L.DBG] & L.DBG_WP and not watchpoint_check(c, M, va, size, acc):
            return False
        n1 = 0x1000 - (va & 0xFFF)
        for i in range(size):
            pa = pa1 + i if i < n1 else pa2 + (i - n1)
            if not phys_write(c, M, pa, 1, value >> (8 * i), va + i, acc):
                return False
        pmu_mem_access(c, M)
        return True
    pa = translate(c, M, va, acc, size)
    if pa < 0:
        return False
    if c[L.DBG] & L.DBG_WP and watchpoint_on_page(c, va):
        if not watchpoint_check(c, M, va, size, acc):
            return False
        if not phys_write(c, M, pa, size, value, va, acc):  # no data page cached: watched
            return False
        pmu_mem_access(c, M)
        return True
    off = pa - memmap.RAM_BASE
    if 0 <= off and off + size <= ram_size(M) and not (acc & ACC_UNPRIV) and \
            not (M[L.M_MACH][L.WP_COUNT] and page_watched(M, va)) and \
            not pmu_mem_watched(c, M):
        c[L.DATA_WPAGE] = va >> 12
        c[L.DATA_WDELTA] = off - va
    if not phys_write(c, M, pa, size, value, va, acc):
        return False
    pmu_mem_access(c, M)   # the PMU's MEM_ACCESS event (nothing unless it is counted)
    return True


@njit(cache=True)
def mem_check_write(c, M, va, size, acc):
    """Everything a store would check, without storing: lets a multi-access instruction (STP,
    CASP, DC ZVA) fault before changing memory. Returns the physical address or -1."""
    if M[L.M_MACH][L.WP_COUNT] and watchpoint_hit(c, M, va, size, L.WP_WRITE):
        return -1
    acc |= ACC_WRITE
    if not check_alignment(c, M, va, size, acc):
        return -1
    if (va & 0xFFF) + size > 0x1000:
        pa1, pa2 = _translate_pair(c, M, va, size, acc)
        if pa2 < 0:
            return -1
    else:
        pa1 = translate(c, M, va, acc, size)
        if pa1 < 0:
            return -1
    if c[L.DBG] & L.DBG_WP and not watchpoint_check(c, M, va, size, acc):
        return -1
    return pa1


# Exclusives Reservation Granule: CTR_EL0.ERG is log2 of its size in words (4: 64 bytes).
ERG_SHIFT = 2 + ((CTR >> 20) & 0xF)


@njit(cache=True)
def _snoop_monitors(c, M, va, size, acc):
    """Global exclusive monitors: a store by this PE to [va, va+size) clears the monitor of every
    other PE that marked the same Exclusives Reservation Granule, and generates an event for it
    (waking it from WFE). Called only after the store succeeded, and translated with the
    store's own permission check (``acc``: an STTR's is EL0's, which PSTATE.PAN does not
    restrict), so translation cannot fault. It is translated as a 1-byte access: the store's
    own size would re-apply the Device-memory alignment rule to the whole of an STP (one
    16-byte "access"), which the store itself, made as two 8-byte accesses, rightly passed."""
    pa = translate(c, M, va, ACC_WRITE | (acc & ACC_UNPRIV), 1)
    if pa < 0:
        return
    cpus = M[L.M_CPUS]
    me = c[L.PE_INDEX]
    lo = pa >> ERG_SHIFT
    hi = (pa + size - 1) >> ERG_SHIFT
    for i in range(cpus.shape[0]):
        if i == me:
            continue
        o = cpus[i]
        if o[L.EXCL_VALID] == 0:
            continue
        glo = o[L.EXCL_ADDR] >> ERG_SHIFT
        ghi = (o[L.EXCL_ADDR] + o[L.EXCL_SIZE] - 1) >> ERG_SHIFT
        if hi >= glo and lo <= ghi:
            o[L.EXCL_VALID] = 0
            o[L.EVENT_REG] = 1
            if o[L.POWER] == L.POWER_WFE:
                o[L.POWER] = L.POWER_ON
                o[L.ATTN] = 1


@njit(cache=True, inline="always")
def store_snoop(c, M, va, size):
    """Bookkeeping after a completed store to [va, va+size): the global exclusive monitors of
    the other PEs (SMP machines only). Every store instruction calls it once it has stored
    (an unprivileged STTR calls ``store_snoop_acc`` with its access flags instead)."""
    if M[L.M_MACH][L.NUM_PES] > 1:
        _snoop_monitors(c, M, va, size, 0)


@njit(cache=True, inline="always")
def store_snoop_acc(c, M, va, size, acc):
    """``store_snoop`` for a store made with the access flags ``acc`` (ACC_UNPRIV matters)."""
    if M[L.M_MACH][L.NUM_PES] > 1:
        _snoop_monitors(c, M, va, size, acc)


@njit(cache=True)
def fetch_translate(c, M, pc):
    """Translate pc for instruction fetch and cache the page translation in the PE row.

    Returns True when the page is now cached; False when an exception was taken or the run
    loop must exit. The caller has already checked PC alignment and checks PSTATE.IL after.
    """
    pa = translate(c, M, pc, ACC_FETCH, 4)
    if pa < 0:
        return False
    off = pa - memmap.RAM_BASE
    if off < 0 or off + 4 > ram_size(M):
        off = flash_offset(M, pa, 4)   # firmware executing in place
    if off < 0:
        # Executing from outside RAM and flash in read-array mode (device space, a flash
        # bank answering commands, or nothing): external abort on fetch.
        instruction_abort(c, M, pc, FSC_EXTERNAL, default_target_el(c))
        return False
    c[L.CODE_VPAGE] = pc >> 12
    c[L.CODE_DELTA] = off - pc
    if M[L.M_MACH][L.BP_COUNT]:
        bind_breakpoints(c, M, pc)
    return True


@njit(cache=True)
def bind_breakpoints(c, M, pc):
    """Breakpoints are set on virtual addresses, but the decode cache that marks them is
    physical: when a code page is entered, each breakpoint on it is bound to the PA the page
    maps to *now* (``S_BP`` column 0), and its word's decoded form is negated so the loop
    checks it. A breakpoint whose page was never mapped waits here until it is."""
    S = M[L.M_MACH]
    dc = M[L.M_DCACHE]
    for i in range(S[L.BP_COUNT]):
        r = L.S_BP + i * L.BP_WIDTH
        va = S[r + 1]
        if va != -1 and (va >> 12) == (pc >> 12):
            off = va + c[L.CODE_DELTA]
            S[r] = array_to_pa(M, off)
            e = dc[off >> 2]
            if e > 0:
                dc[off >> 2] = -e
