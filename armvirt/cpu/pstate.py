"""PSTATE as separate slots, and its conversions (Arm ARM D1.4 "Process state, PSTATE").

The stack pointer is kept *current* in slot ``SP`` and banked into SP_EL0/SP_EL1/SP_EL2 whenever
PSTATE.EL or PSTATE.SP changes (as QEMU's aarch64_save_sp/restore_sp do), so that an instruction
using SP never has to look at PSTATE.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.cpu import _sysregs as SR

# SPSR_ELx / PSTATE bit positions (C5.2.18 SPSR_EL1)
PSR_N_SHIFT = 28
PSR_PAN = 1 << 22
PSR_SS = 1 << 21
PSR_IL = 1 << 20
PSR_DAIF_SHIFT = 6
PSR_M_NRW = 1 << 4


@njit(cache=True, inline="always")
def drop_cached_translations(c):
    """Forget the PE's cached code and data page translations: after anything that changes
    the translation regime, the EL, or the permissions an access is checked against."""
    c[L.CODE_VPAGE] = L.CODE_VPAGE_NONE
    c[L.DATA_RPAGE] = L.CODE_VPAGE_NONE
    c[L.DATA_WPAGE] = L.CODE_VPAGE_NONE


@njit(cache=True, inline="always")
def set_pan(c, pan):
    """PSTATE.PAN changes which data accesses are permitted: forget the cached data pages."""
    if c[L.PSTATE_PAN] != pan:
        c[L.PSTATE_PAN] = pan
        c[L.DATA_RPAGE] = L.CODE_VPAGE_NONE
        c[L.DATA_WPAGE] = L.CODE_VPAGE_NONE


@njit(cache=True, inline="always")
def sp_slot(el, spsel):
    """The slot that banks the stack pointer selected by (EL, SPSel)."""
    if spsel == 0 or el == 0:
        return SR.SP_EL0
    if el == 1:
        return SR.SP_EL1
    return SR.SP_EL2


@njit(cache=True)
def set_el_spsel(c, el, spsel):
    """Change PSTATE.EL/PSTATE.SP, banking the current stack pointer."""
    c[sp_slot(c[L.EL], c[L.SPSEL])] = c[L.SP]
    c[L.EL] = el
    c[L.SPSEL] = spsel
    c[L.SP] = c[sp_slot(el, spsel)]
    drop_cached_translations(c)  # the translation regime may have changed


@njit(cache=True)
def read_sp_el(c, el):
    """SP_ELx for a given x, whether or not it is the current stack pointer."""
    slot = sp_slot(el, 1) if el > 0 else SR.SP_EL0
    if slot == sp_slot(c[L.EL], c[L.SPSEL]):
        return c[L.SP]
    return c[slot]


@njit(cache=True)
def write_sp_el(c, el, value):
    slot = sp_slot(el, 1) if el > 0 else SR.SP_EL0
    if slot == sp_slot(c[L.EL], c[L.SPSEL]):
        c[L.SP] = value
    else:
        c[slot] = value


@njit(cache=True)
def get_psr(c):
    """PSTATE packed in the SPSR_ELx format (the value an exception saves)."""
    m = (c[L.EL] << 2) | c[L.SPSEL]
    return ((c[L.NZCV] << PSR_N_SHIFT) | (c[L.PSTATE_PAN] << 22) | (c[L.PSTATE_SS] << 21)
            | (c[L.PSTATE_IL] << 20) | (c[L.DAIF] << PSR_DAIF_SHIFT) | m)


@njit(cache=True)
def set_psr_fields(c, spsr):
    """The part of SetPSTATEFromPSR that does not depend on legality: flags, masks, PAN, SS."""
    c[L.NZCV] = (spsr >> PSR_N_SHIFT) & 0xF
    c[L.DAIF] = (spsr >> PSR_DAIF_SHIFT) & 0xF
    set_pan(c, (spsr >> 22) & 1)
    c[L.PSTATE_SS] = (spsr >> 21) & 1
