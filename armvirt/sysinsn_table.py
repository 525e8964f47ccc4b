"""The A64 System instructions armvirt names, by encoding: Arm ARM, "A64 System instructions
for cache maintenance", "... for address translation" and "... for TLB maintenance" (SYS with
op0 = 1). The names the debugger shows for a trapped SYS (EC 0x18) and the ``SYSREG_ISS_KEY_*``
macros of the firmware's include (``python -m armvirt.hv.gen_abi``) come from here; system
registers (MRS/MSR) are in ``armvirt.cpu.sysreg_table``.
"""

# (op1, CRn, CRm, op2) -> name, for op0 = 1
SYS_INSNS: dict[tuple[int, int, int, int], str] = {
    (0, 7, 1, 0): "IC IALLUIS", (0, 7, 5, 0): "IC IALLU", (3, 7, 5, 1): "IC IVAU",
    (0, 7, 6, 1): "DC IVAC", (0, 7, 6, 2): "DC ISW", (0, 7, 10, 2): "DC CSW",
    (0, 7, 14, 2): "DC CISW", (3, 7, 4, 1): "DC ZVA", (3, 7, 10, 1): "DC CVAC",
    (3, 7, 11, 1): "DC CVAU", (3, 7, 12, 1): "DC CVAP", (3, 7, 14, 1): "DC CIVAC",
    (0, 7, 8, 0): "AT S1E1R", (0, 7, 8, 1): "AT S1E1W", (0, 7, 8, 2): "AT S1E0R",
    (0, 7, 8, 3): "AT S1E0W", (0, 7, 9, 0): "AT S1E1RP", (0, 7, 9, 1): "AT S1E1WP",
    (4, 7, 8, 0): "AT S1E2R", (4, 7, 8, 1): "AT S1E2W", (4, 7, 8, 4): "AT S12E1R",
    (4, 7, 8, 5): "AT S12E1W", (4, 7, 8, 6): "AT S12E0R", (4, 7, 8, 7): "AT S12E0W",
    (0, 8, 3, 0): "TLBI VMALLE1IS", (0, 8, 3, 1): "TLBI VAE1IS", (0, 8, 3, 2): "TLBI ASIDE1IS",
    (0, 8, 3, 3): "TLBI VAAE1IS", (0, 8, 3, 5): "TLBI VALE1IS", (0, 8, 3, 7): "TLBI VAALE1IS",
    (0, 8, 7, 0): "TLBI VMALLE1", (0, 8, 7, 1): "TLBI VAE1", (0, 8, 7, 2): "TLBI ASIDE1",
    (0, 8, 7, 3): "TLBI VAAE1", (0, 8, 7, 5): "TLBI VALE1", (0, 8, 7, 7): "TLBI VAALE1",
    (4, 8, 0, 1): "TLBI IPAS2E1IS", (4, 8, 0, 5): "TLBI IPAS2LE1IS",
    (4, 8, 4, 1): "TLBI IPAS2E1", (4, 8, 4, 5): "TLBI IPAS2LE1",
    (4, 8, 3, 0): "TLBI ALLE2IS", (4, 8, 3, 1): "TLBI VAE2IS", (4, 8, 3, 4): "TLBI ALLE1IS",
    (4, 8, 3, 5): "TLBI VALE2IS", (4, 8, 3, 6): "TLBI VMALLS12E1IS",
    (4, 8, 7, 0): "TLBI ALLE2", (4, 8, 7, 1): "TLBI VAE2", (4, 8, 7, 4): "TLBI ALLE1",
    (4, 8, 7, 5): "TLBI VALE2", (4, 8, 7, 6): "TLBI VMALLS12E1",
}
