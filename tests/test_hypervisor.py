"""The hypervisor (firmware/) on the emulator: boot at EL2, the world switch, exit handling,
PSCI, the manifest checks, stage-2 tables, and the guests of guests/ under both builds.

Two kinds of VMs run here. With stage 2 (the default) a guest is isolated and sees the virt
platform. Without stage 2 (``stage2=False``: IPA = PA, no isolation, no device tree) the guest
writes the physical UART itself and its state is easy to find in physical memory, which the
white-box tests of the world switch, hypercalls, traps and PSCI use; those guests are
position-independent.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from armvirt.build import assemble
from armvirt.build import HV_MODES, board_defines, build_firmware
from armvirt.hv import abi
from armvirt.hv.console import ConsoleDemux
from armvirt.hv.launch import HvConfig, LaunchError, VMConfig, launch, plan, result

MODES = HV_MODES
HELLO = b"Hello from armvirt!\n"


@pytest.fixture(scope="session")
def firmware(tmp_path_factory):
    """Both firmware builds, assembled from firmware/ for this test session."""
    out = tmp_path_factory.mktemp("firmware")
    return {mode: build_firmware(mode, out) for mode in MODES}


class Run:
    """One hypervisor run: the machine, what was launched, how it stopped, the console by
    source (``hv``, each VM's name, and ``untagged`` bytes from VMs without stage 2)."""

    def __init__(self, cfg: HvConfig, fw, max_insns: int = 30_000_000, patch=None):
        self.out: dict[str, bytearray] = {}
        names = ["hv"] + [vm.name for vm in plan(cfg).vms]
        sinks = {n: self.out.setdefault(n, bytearray()).extend for n in names}
        self.untagged = bytearray()
        demux = ConsoleDemux(sinks, self.untagged.extend)
        self.m, self.launched = launch(cfg, uart=demux.feed, firmware=fw[cfg.mode])
        self.sym = self.launched.fw_symbols
        if patch is not None:
            patch(self)
        self.hv_text_before = self.hv_text()
        self.info = self.m.run(max_insns)
        demux.flush()
        self.res = result(self.m, self.launched)

    def hv_text(self) -> bytes:
        """The hypervisor's code and constant data: everything before its first variable."""
        return self.m.read_phys(abi.HV_BASE, self.sym["pcpus"] - abi.HV_BASE)

    def text(self, tag: str) -> str:
        return bytes(self.out.get(tag, b"")).decode()

    def vm_pa(self, i: int) -> int:
        return self.launched.plan.vms[i].pa_base

    def stats(self, vm: int = 0, vcpu: int = 0) -> dict[str, int]:
        return self.res.vms[vm].vcpus[vcpu].stats


def guest_image(tmp_path, name: str, source: str):
    """Assemble a test guest (linked at the guest RAM base) into a raw image file."""
    prog = assemble(source, base=abi.GUEST_RAM_BASE, defines=board_defines())
    path = tmp_path / f"{name}.bin"
    path.write_bytes(prog.code)
    return str(path), prog


def passthrough(image: str, **kw) -> VMConfig:
    kw.setdefault("mem", 8 << 20)
    return VMConfig(image, stage2=False, **kw)


# ------------------------------------------------------------------------------ the build
@pytest.mark.parametrize("mode", MODES)
def test_firmware_assembles_from_source(firmware, mode):
    from armvirt.loader import read_elf
    elf = read_elf(firmware[mode].read_bytes())
    s = elf.symbols
    assert elf.entry == s["_start"] == abi.HV_BASE
    assert s["__guest_vectors"] % 0x800 == 0
    assert ("__host_vectors" in s) == (mode == "split")       # the host part's calls into EL2
    assert ("__direct_vcpu_run" in s) == (mode == "direct")
    assert s["s2_pool"] % 4096 == 0
    assert s["hv_end"] <= abi.HV_MANIFEST                      # the manifest stays clear


# ------------------------------------------------------------------- boot, exits, PSCI
@pytest.mark.parametrize("mode", MODES)
def test_hello_runs_as_a_vm_without_stage_2(firmware, guests_dir, mode):
    r = Run(HvConfig([passthrough(str(guests_dir / "hello.elf"))], mode=mode), firmware)
    assert r.info.reason == "system_off"
    assert bytes(r.untagged) == HELLO
    assert r.res.state == "done" and r.res.ok
    assert r.res.vms[0].state == "powered off"
    assert r.res.vms[0].vcpus[0].exits == 1 and r.stats()["hvc"] == 1
    banner = "split: exits handled by the host part at EL1" if mode == "split" \
        else "direct: exits handled at EL2"
    assert banner in r.text("hv")
    assert "VM vm0 powered off" in r.text("hv")


@pytest.mark.parametrize("mode", MODES)
def test_hvc_fuzz_gets_clean_answers_and_the_hypervisor_is_untouched(firmware, guests_dir, mode):
    r = Run(HvConfig([passthrough(str(guests_dir / "hvc-fuzz.elf"))], mode=mode), firmware)
    out = bytes(r.untagged).decode()
    assert "hvc-fuzz: 3000 hypercalls (" in out and ", 0 unexpected results\n" in out, out
    assert r.stats()["hvc"] == 3001 and r.res.ok
    assert r.hv_text() == r.hv_text_before


def test_hvc_fuzz_notices_a_wrong_answer(firmware, guests_dir):
    """The fuzz guest's model is strict enough to catch a hypervisor that answers wrongly: with
    the firmware's PSCI_FEATURES answers all NOT_SUPPORTED, it reports unexpected results."""
    def patch(r):
        # smccc_calls (host/psci.S): {function ID, flags, handler} records of 16 bytes, sorted
        # by ID (SMCCC_VERSION first), ended by a zero handler; clearing every flags word takes
        # each call out of PSCI_FEATURES.
        rec = r.sym["smccc_calls"]
        assert int.from_bytes(r.m.read_phys(rec, 4), "little") == 0x8000_0000
        while int.from_bytes(r.m.read_phys(rec + 8, 8), "little"):
            r.m.write_phys(rec + 4, bytes(4))
            rec += 16
    r = Run(HvConfig([passthrough(str(guests_dir / "hvc-fuzz.elf"))]), firmware, patch=patch)
    out = bytes(r.untagged).decode()
    assert "returned X0=0xffffffffffffffff, expected 0x0" in out
    assert ", 0 unexpected results" not in out


@pytest.mark.parametrize("mode", MODES)
def test_psci_cpu_on_off_affinity(firmware, guests_dir, mode):
    r = Run(HvConfig([passthrough(str(guests_dir / "psci.elf"), vcpus=2)], mode=mode), firmware)
    assert bytes(r.untagged).decode() == (
        "psci: version 0x10001\n"
        "psci: features(CPU_ON) = 0, features(0x8400001f) = -1\n"
        "psci: affinity_info(cpu1) = 1\n"
        "psci: cpu_on(cpu1) = 0; it ran with context 0x1234 and is off again\n"
        "psci: cpu_on(cpu1) = 0; it ran with context 0x5678 and is off again\n"
        "psci: cpu_on(cpu0, itself) = -4\n"
        "psci: cpu_on(no such cpu) = -2\n"
        "psci: done\n")
    vm = r.res.vms[0]
    assert [(v.index, v.pcpu) for v in vm.vcpus] == [(0, 0), (1, 1)]
    assert vm.vcpus[1].stats["hvc"] == 2            # two lives, each ended by CPU_OFF


PSCI_ERRORS = """
    .global _start
_start:
    adr     x20, results
    ldr     x0, =PSCI_CPU_ON_64          // vCPU 1, entry not aligned
    mov     x1, #1
    adr     x2, park
    add     x2, x2, #2
    hvc     #0
    str     x0, [x20], #8
    ldr     x0, =PSCI_CPU_ON_64          // vCPU 1, entry outside the VM's RAM
    mov     x1, #1
    mov     x2, #0x1000
    hvc     #0
    str     x0, [x20], #8
    ldr     x0, =PSCI_CPU_ON_32          // SMC32: only W1 counts (vCPU 0: itself)
    mov     x1, #0x7FFF
    lsl     x1, x1, #32
    adr     x2, park
    hvc     #0
    str     x0, [x20], #8
    ldr     x0, =PSCI_AFFINITY_INFO_64   // level 1: only level 0 exists here
    mov     x1, #1
    mov     x2, #1
    hvc     #0
    str     x0, [x20], #8
    mov     x0, #0x1234                  // HVC #1: not an SMCCC call
    hvc     #1
    str     x0, [x20], #8
    ldr     x0, =0xC6000001              // ARMVIRT_HC_INFO
    hvc     #0
    stp     x0, x1, [x20], #16
    stp     x2, x3, [x20], #16
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
park:
    b       park
    .ltorg
    .balign 8
results:
    .space  80
"""


@pytest.mark.parametrize("mode", MODES)
def test_psci_and_smccc_error_codes(firmware, tmp_path, mode):
    image, prog = guest_image(tmp_path, "psci-errors", PSCI_ERRORS)
    r = Run(HvConfig([passthrough(image, vcpus=2)], mode=mode), firmware)
    assert r.res.ok
    at = r.vm_pa(0) + prog.symbols["results"] - abi.GUEST_RAM_BASE
    got = [int.from_bytes(r.m.read_phys(at + 8 * i, 8), "little", signed=True) for i in range(9)]
    # INVALID_ADDRESS twice, ALREADY_ON, INVALID_PARAMETERS, NOT_SUPPORTED, then INFO:
    # SUCCESS, VM 0, vCPU 0, 2 vCPUs
    assert got == [-9, -9, -4, -2, -1, 0, 0, 0, 2]


WORLD_SWITCH = """
// Fill every general register and all of Q0..Q31 with values derived from SEED, set EL1
// system registers the world switch must carry, then ROUNDS times: a no-op hypercall and a
// WFE (trapped: the other VM on this PE runs in between), checking everything each time.
    .global _start
_start:
    adr     x0, vectors
    msr     vbar_el1, x0
    ldr     x0, =SEED
    msr     tpidr_el1, x0
    msr     tpidr_el0, x0
    msr     tpidrro_el0, x0
    msr     contextidr_el1, x0
    msr     far_el1, x0
    msr     mair_el1, x0
    msr     sp_el0, x0
    msr     elr_el1, x0
    mov     x1, #0x300000                // CPACR_EL1.FPEN: no FP trap at EL1
    msr     cpacr_el1, x1
    isb
    mov     x28, #ROUNDS
round:
    bl      fill
    ldr     x0, =0xC6000000              // ARMVIRT_HC_NOP
    hvc     #0
    cbnz    x0, bad                      // SUCCESS expected
    bl      check
    wfe                                  // the ERET from the hypercall set the event register:
    wfe                                  //   this one waits, so it traps
    bl      fill
    bl      check
    subs    x28, x28, #1
    b.ne    round
    adr     x0, verdict
    mov     x1, #1
    str     x1, [x0]
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
bad:
    adr     x0, verdict
    mov     x1, #2
    str     x1, [x0]
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0

// x1..x27 = SEED + n, Q0..Q31 = SEED + 100 + n (both halves), x29 = SEED + 29
fill:
    ldr     x29, =SEED
    .irp n, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27
    add     x\\n, x29, #\\n
    .endr
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    add     x0, x29, #(100 + \\n)
    fmov    d\\n, x0
    fmov    v\\n\\().d[1], x0
    .endr
    add     x29, x29, #29
    ret

check:                                  // (x30 is a scratch register below: keep the LR)
    adr     x0, saved_lr
    str     x30, [x0]
    ldr     x0, =SEED
    .irp n, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27
    add     x30, x0, #\\n
    cmp     x\\n, x30
    b.ne    bad
    .endr
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    add     x30, x0, #(100 + \\n)
    fmov    x1, d\\n
    cmp     x1, x30
    b.ne    bad
    fmov    x1, v\\n\\().d[1]
    cmp     x1, x30
    b.ne    bad
    .endr
    .irp r, tpidr_el1, tpidr_el0, tpidrro_el0, far_el1, mair_el1, sp_el0, elr_el1
    mrs     x1, \\r
    cmp     x1, x0
    b.ne    bad
    .endr
    mrs     x1, contextidr_el1              // a 32-bit register
    cmp     w1, w0
    b.ne    bad
    mrs     x1, vbar_el1
    adr     x2, vectors
    cmp     x1, x2
    b.ne    bad
    adr     x1, saved_lr
    ldr     x30, [x1]
    ret

    .balign 0x800
vectors:
    .rept 16
    .balign 0x80
    b       bad
    .endr
    .balign 8
verdict:
    .quad   0
saved_lr:
    .quad   0
"""


@pytest.mark.parametrize("mode", MODES)
def test_world_switch_keeps_two_vms_apart_on_one_pe(firmware, tmp_path, mode):
    """Two VMs time-share PE 0 (each WFE yields to the other). Each checks, after every
    hypercall and every switch, its general registers, all of Q0..Q31 (switched lazily: each
    first FP use after the other VM ran traps to EL2) and its EL1 system registers."""
    rounds = 20
    images = []
    for seed in (0x1111_0000_1111, 0x2222_0000_2222):
        src = WORLD_SWITCH.replace("SEED", hex(seed)).replace("ROUNDS", str(rounds))
        images.append(guest_image(tmp_path, f"ws{seed & 0xF}", src))
    cfg = HvConfig([passthrough(images[0][0], pin=[0]), passthrough(images[1][0], pin=[0])],
                   mode=mode)
    r = Run(cfg, firmware)
    assert r.res.ok, r.text("hv")
    for i, (_, prog) in enumerate(images):
        at = r.vm_pa(i) + prog.symbols["verdict"] - abi.GUEST_RAM_BASE
        assert r.m.read_u64(at) == 1, f"VM {i} saw its state change"
        st = r.stats(i)
        assert st["hvc"] == rounds + 1 and st["wfe"] == rounds
        # The other VM used FP/SIMD in between: every round begins with an FP trap.
        assert st["fp"] >= rounds
    assert r.hv_text() == r.hv_text_before


SYSREGS = """
    .global _start
_start:
    adr     x0, vectors
    msr     vbar_el1, x0
    adr     x20, results
    mov     x0, #0xFF
msr_actlr:
    msr     actlr_el1, x0               // TACR: written, ignored
mrs_actlr:
    mrs     x0, actlr_el1               //       read as zero
    str     x0, [x20], #8
    mrs     x0, oslsr_el1               // TDOSA: the first debug access: the vCPU's own
    str     x0, [x20], #8               //   debug registers, OS lock locked at reset
    mov     x0, #0x8000
    msr     mdscr_el1, x0               // no longer trapped: its own MDSCR_EL1.MDE
    mrs     x0, mdscr_el1
    str     x0, [x20], #8
    mov     x0, #0
    dc      cisw, x0                    // TSW: nothing to do
    adr     x0, vectors
    str     x0, [x20], #8               // (still here)
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    .balign 0x800
vectors:
    .rept 16
    .balign 0x80
    b       undef
    .endr
undef:                                  // record ESR_EL1 and ELR_EL1, skip the instruction
    adr     x9, exc
    mrs     x10, esr_el1
    mrs     x11, elr_el1
    stp     x10, x11, [x9]
    add     x11, x11, #4
    msr     elr_el1, x11
    eret
    .ltorg
    .balign 8
results:
    .space  32
exc:
    .space  16
"""


@pytest.mark.parametrize("mode", MODES)
def test_trapped_system_registers_are_emulated(firmware, tmp_path, mode):
    image, prog = guest_image(tmp_path, "sysregs", SYSREGS)
    r = Run(HvConfig([passthrough(image)], mode=mode), firmware)
    assert r.res.ok
    base = r.vm_pa(0) - abi.GUEST_RAM_BASE
    at = base + prog.symbols["results"]
    # ACTLR_EL1 reads as zero; the first debug register access (OSLSR_EL1: "implemented,
    # locked", OSLM = 0b10 and OSLK = 1, as a PE at reset) traps once and loads the vCPU's own
    # debug registers, so MDSCR_EL1 reads back what was written, untrapped; then the guest got
    # past DC CISW (it stored its vector address, a physical one: no stage 2)
    assert [r.m.read_u64(at + 8 * i) for i in range(4)] == [0, 0xA, 0x8000,
                                                            base + prog.symbols["vectors"]]
    assert r.m.read_u64(base + prog.symbols["exc"]) == 0      # no exception reached the guest
    assert r.stats()["sysreg"] == 4       # ACTLR_EL1 twice, the first debug access, DC CISW


@pytest.mark.parametrize("mode", MODES)
def test_an_unemulated_register_gets_undefined_injected(firmware, tmp_path, mode):
    """The hypervisor injects UNDEFINED for a trapped register it does not emulate (here
    ACTLR_EL1, after removing it from the firmware's table): the guest's own vector sees EC 0
    at the MSR, and the console says what happened."""
    image, prog = guest_image(tmp_path, "sysregs", SYSREGS)

    def patch(r):
        table = r.sym["sysreg_table"]
        r.m.write_phys(table, (0x7FFFFFFF).to_bytes(4, "little"))   # ACTLR_EL1's key
    r = Run(HvConfig([passthrough(image)], mode=mode), firmware, patch=patch)
    assert r.res.ok
    base = r.vm_pa(0) - abi.GUEST_RAM_BASE
    esr, elr = (r.m.read_u64(base + prog.symbols["exc"] + 8 * i) for i in range(2))
    assert esr >> 26 == 0 and esr & (1 << 25)                 # Unknown reason, IL = 1
    assert elr == base + prog.symbols["mrs_actlr"]            # the last of the two: the MRS
    hv = r.text("hv")
    assert "VM vm0 vCPU 0: MSR/SYS to S3_0_C1_C0_1 trapped at pc 0x" in hv
    assert "VM vm0 vCPU 0: MRS of S3_0_C1_C0_1 trapped at pc 0x" in hv
    assert hv.count(": UNDEFINED injected") == 2


WFX = """
    .global _start
_start:
    mov     x19, #COUNT
1:  wfe                                 // consumes the event an ERET leaves behind,
    wfe                                 //   then this one waits: trapped, a yield
    subs    x19, x19, #1
    b.ne    1b
    BLOCK
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
"""


@pytest.mark.parametrize("mode", MODES)
def test_wfe_yields_and_wfi_blocks(firmware, tmp_path, mode):
    image, _ = guest_image(tmp_path, "wfe", WFX.replace("COUNT", "7").replace("BLOCK", ""))
    r = Run(HvConfig([passthrough(image)], mode=mode), firmware)
    assert r.res.ok and r.stats()["wfe"] == 7
    # WFI blocks the vCPU until an interrupt is pending for it; this guest enables none, so
    # nothing wakes it and every PE ends up asleep.
    image, _ = guest_image(tmp_path, "wfi", WFX.replace("COUNT", "1").replace("BLOCK", "wfi"))
    r = Run(HvConfig([passthrough(image)], mode=mode), firmware)
    assert r.info.reason == "idle"
    assert r.stats()["wfi"] == 1 and r.res.vms[0].state == "running"


@pytest.mark.parametrize("mode", MODES)
def test_an_unhandled_exit_stops_only_that_vm(firmware, guests_dir, tmp_path, mode):
    """An exit no handler claims (here WFx, after clearing its slot in the firmware's table)
    stops that VM with a report; the hypervisor and the other VM carry on."""
    image, _ = guest_image(tmp_path, "wfe", WFX.replace("COUNT", "3").replace("BLOCK", ""))

    def patch(r):
        r.m.write_phys(r.sym["exit_handlers"] + 8 * 0x01, bytes(8))   # EC 0x01: WFI/WFE
    cfg = HvConfig([passthrough(image, name="victim", pin=[0]),
                    passthrough(str(guests_dir / "hello.elf"), name="bystander", pin=[0])],
                   mode=mode)
    r = Run(cfg, firmware, patch=patch)
    assert r.info.reason == "system_off" and r.res.state == "done"
    victim, bystander = r.res.vms
    assert victim.state == "stopped by the hypervisor" and victim.esr >> 26 == 0x01
    assert bystander.state == "powered off"
    assert bytes(r.untagged) == HELLO
    assert "VM victim vCPU 0: unhandled exit, ESR_EL2=0x" in r.text("hv")
    assert "VM victim stopped by the hypervisor" in r.text("hv")
    assert not r.res.ok


@pytest.mark.parametrize("mode", MODES)
def test_two_vms_on_two_pes(firmware, guests_dir, mode):
    cfg = HvConfig([passthrough(str(guests_dir / "hvc-fuzz.elf"), name="fuzz"),
                    passthrough(str(guests_dir / "psci.elf"), name="psci", vcpus=2)], mode=mode)
    r = Run(cfg, firmware)
    assert r.res.ok and r.launched.plan.smp == 3
    assert [[(v.index, v.pcpu) for v in vm.vcpus] for vm in r.res.vms] == [[(0, 0)],
                                                                           [(0, 1), (1, 2)]]
    # (how often vCPU 0 of psci polls AFFINITY_INFO depends on the interleaving of the PEs)
    assert r.stats(0)["hvc"] == 3001 and r.stats(1)["hvc"] >= 10
    assert "armvirt hypervisor" in r.text("hv") and "2 VM(s) on 3 PE(s)" in r.text("hv")


# ------------------------------------------------------------------- the manifest, checked twice
@pytest.mark.parametrize("cfg, message", [
    (HvConfig([VMConfig("x", mem=128 << 20)], mem=64 << 20),
     "the VMs need 130 MiB of RAM (the hypervisor 2 MiB and vm0 128 MiB), the board has 64 MiB"),
    (HvConfig([VMConfig("x", base=0x4400_0000), VMConfig("y", base=0x4600_0000)]),
     "VM vm1 (0x46000000..0x4e000000) overlaps VM vm0 (0x44000000..0x4c000000)"),
    (HvConfig([VMConfig("x", base=0x4000_0000)]), "(the hypervisor is below)"),
    (HvConfig([VMConfig("x", pin=[1])], smp=1), "the board has 1 PE"),
    (HvConfig([VMConfig("x", vcpus=9)]), "a VM has 1 to 8"),
    (HvConfig([VMConfig("x", mem=3 << 20)]), "is not a multiple of 2 MiB"),
    (HvConfig([VMConfig("x", name="a"), VMConfig("y", name="a")]), "two VMs are named 'a'"),
    (HvConfig([VMConfig("x", name="hv")]), "VM name 'hv'"),
    (HvConfig([VMConfig("x")] * 9), "at most 8"),
    (HvConfig([VMConfig("x")], mode="xen"), "unknown hypervisor build"),
])
def test_bad_configurations_are_refused_before_anything_runs(cfg, message):
    with pytest.raises(LaunchError) as e:
        plan(cfg)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_an_image_too_big_for_its_vm(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(3 << 20))
    with pytest.raises(LaunchError) as e:
        launch(HvConfig([VMConfig(str(big), mem=2 << 20)]))
    assert "VM vm0:" in str(e.value) and "does not fit in RAM" in str(e.value)


@pytest.mark.parametrize("mode", MODES)
def test_the_firmware_checks_the_manifest_itself(firmware, guests_dir, mode):
    """A manifest that bypassed the Python checks (two VMs made to overlap after loading) is
    refused by the firmware: a one-line report, a recorded panic, the machine off."""
    def patch(r):
        vm1 = abi.HV_MANIFEST + abi.MANIFEST.off("VMS") + abi.VM.size
        r.m.write_phys(vm1 + abi.VM.off("PA_BASE"), r.vm_pa(0).to_bytes(8, "little"))
    cfg = HvConfig([passthrough(str(guests_dir / "hello.elf")),
                    passthrough(str(guests_dir / "hello.elf"))], mode=mode)
    r = Run(cfg, firmware, patch=patch)
    assert r.info.reason == "system_off"
    assert r.text("hv") == "bad boot manifest: memory overlaps another VM (VM 1)\n"
    assert r.res.state == "panic" and r.res.panic["pe"] == 0
    assert not r.untagged                        # no guest ran


# ------------------------------------------------------------------- stage 2
@pytest.mark.parametrize("mode", MODES)
def test_stage2_tables_map_exactly_the_vms_ram(firmware, guests_dir, mode):
    """Walk the firmware's stage-2 tables with the reference walker (tests/refwalk.py): each
    VM's RAM maps to its own block, and nothing else is mapped — not the devices, not the
    hypervisor, not the other VM."""
    from refwalk import Access, walk_s2
    cfg = HvConfig([VMConfig(str(guests_dir / "hello.elf"), mem=64 << 20),
                    VMConfig(str(guests_dir / "hello.elf"), mem=6 << 20)], mode=mode)
    m, launched = launch(cfg, firmware=firmware[mode])
    m.add_breakpoint(launched.fw_symbols["release_secondaries"])
    assert m.run(5_000_000).reason == "breakpoint"

    def read64(pa):
        try:
            return m.read_u64(pa)
        except Exception:
            return None
    for i, vm in enumerate(launched.plan.vms):
        rec = abi.HV_MANIFEST + abi.MANIFEST.off("VMS") + i * abi.VM.size
        vttbr = m.read_u64(rec + abi.VM.off("VTTBR"))
        assert vttbr >> 48 == i + 1                              # VMID
        mem = vm.cfg.mem
        for ipa, pa in ((abi.GUEST_RAM_BASE, vm.pa_base),
                        (abi.GUEST_RAM_BASE + 0x12345678 % mem, vm.pa_base + 0x12345678 % mem),
                        (abi.GUEST_RAM_BASE + mem - 8, vm.pa_base + mem - 8)):
            for kind in ("read", "write", "exec"):
                res = walk_s2(read64, ipa=ipa, vtcr=abi.VTCR_VALUE, vttbr=vttbr,
                              access=Access(kind))
                assert res.fault is None and res.pa == pa, (i, hex(ipa), res)
        for ipa in (abi.GUEST_RAM_BASE + mem, abi.GUEST_RAM_BASE - 8, 0x0900_0000,
                    0x0800_0000, abi.DOORBELL_BASE, 0, (1 << 39) - 8):
            res = walk_s2(read64, ipa=ipa, vtcr=abi.VTCR_VALUE, vttbr=vttbr,
                          access=Access("read"))
            assert res.fault is not None and res.fault.type == "translation", hex(ipa)


@pytest.mark.parametrize("mode", MODES)
def test_hello_under_stage2(firmware, guests_dir, mode):
    r = Run(HvConfig([VMConfig(str(guests_dir / "hello.elf"))], mode=mode), firmware)
    assert r.res.ok
    assert r.text("vm0") == HELLO.decode()
    st = r.stats()
    assert st["mmio"] == len(HELLO) and st["hvc"] == 1      # each byte to the virtual PL011


@pytest.mark.parametrize("mode", MODES)
def test_mmu_guest_needs_no_hypervisor(firmware, guests_dir, mode):
    r = Run(HvConfig([VMConfig(str(guests_dir / "mmu.elf"))], mode=mode), firmware)
    assert r.res.ok
    assert r.text("vm0") == (
        "mmu: stage 1 on, entering EL0\n"
        "mmu: hello from EL0 through SVC, pid + 1 = 43\n"
        "mmu: EL0 wrote to kernel memory: permission fault, handled at EL1\n"
        "mmu: EL0 made 46 system calls and exited\n")
    st = r.stats()
    # Only the UART and the final SYSTEM_OFF reach EL2: SVCs, EL0's permission fault and
    # the guest's own page tables are all EL1's business.
    assert st["hvc"] == 1 and st["mmio"] > 0
    assert r.res.vms[0].vcpus[0].exits == st["mmio"] + st["hvc"] + st["fp"]


@pytest.mark.parametrize("mode", MODES)
def test_isolation(firmware, guests_dir, mode):
    cfg = HvConfig([VMConfig(str(guests_dir / "isolation.elf"), name="prisoner", mem=32 << 20),
                    VMConfig(str(guests_dir / "hello.elf"), name="neighbour", mem=16 << 20)],
                   mode=mode)
    r = Run(cfg, firmware)
    out = r.text("prisoner")
    assert "isolation: 8 of 8 forbidden accesses faulted\n" in out, out
    assert "isolation: wrote 0x401f0000 (its own RAM) and read it back\n" in out
    assert r.text("neighbour") == HELLO.decode()
    assert r.res.ok
    assert r.hv_text() == r.hv_text_before
    # The write to IPA 0x401F_0000 landed in the prisoner's RAM, not in the hypervisor.
    assert r.m.read_u64(r.vm_pa(0) + 0x1F_0000) == 0x150A7104150A7104
    assert r.stats(0)["dabt"] == 5 and r.stats(0)["iabt"] == 1


@pytest.mark.parametrize("mode", MODES)
def test_hvc_fuzz_under_stage2(firmware, guests_dir, mode):
    r = Run(HvConfig([VMConfig(str(guests_dir / "hvc-fuzz.elf"))], mode=mode), firmware)
    assert ", 0 unexpected results\n" in r.text("vm0")
    assert r.hv_text() == r.hv_text_before


DEVICES = """
    .global _start
_start:
    ldr     x1, =UART_BASE
    adr     x20, results
    ldr     w0, [x1, #0x18]             // UARTFR: TXFE | RXFE
    str     x0, [x20], #8
    ldr     w0, [x1, #0xFE0]            // UARTPeriphID0
    str     x0, [x20], #8
    ldr     w0, [x1, #0xFFC]            // UARTPCellID3
    str     x0, [x20], #8
    mov     w0, #0x301
    str     w0, [x1, #0x30]             // UARTCR: kept
    ldrh    w0, [x1, #0x30]
    str     x0, [x20], #8
    ldrsb   x0, [x1, #0xFEC]            // PeriphID3 = 0x00; sign-extended byte load
    str     x0, [x20], #8
    ldrsb   x0, [x1, #0xFF4]            // PCellID1 = 0xF0 -> -16
    str     x0, [x20], #8
    mov     w0, #0x6F                   // 'o', 'k', newline through UARTDR
    strb    w0, [x1]
    mov     w0, #0x6B
    strb    w0, [x1]
    mov     w0, #10
    strb    w0, [x1]
    ldr     x2, =DOORBELL_BASE
    mrs     x3, cntvct_el0
    mov     x0, #0x77
    str     x0, [x2]                    // ring
    ldr     x4, [x2, #0x10]             // when the backend saw it
    sub     x4, x4, x3
    str     x4, [x20], #8
    ldr     x0, [x2, #8]                // rings: 1
    str     x0, [x20], #8
    ldr     x0, [x2]                    // the value
    str     x0, [x20], #8
    adr     x0, vectors
    msr     vbar_el1, x0
    ldp     x5, x6, [x1]                // no syndrome for LDP: an abort, not emulation
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    .balign 0x800
vectors:
    .rept 16
    .balign 0x80
    b       abort
    .endr
abort:
    mrs     x0, esr_el1
    str     x0, [x20], #8
    mrs     x0, elr_el1
    add     x0, x0, #4
    msr     elr_el1, x0
    eret
    .ltorg
    .balign 8
results:
    .space  128
"""


@pytest.mark.parametrize("mode", MODES)
def test_virtual_pl011_and_doorbell(firmware, tmp_path, mode):
    src = DEVICES.replace("DOORBELL_BASE", hex(abi.DOORBELL_BASE))
    image, prog = guest_image(tmp_path, "devices", src)
    r = Run(HvConfig([VMConfig(image, kind="raw")], mode=mode), firmware)
    assert r.res.ok
    at = r.vm_pa(0) + prog.symbols["results"] - abi.GUEST_RAM_BASE
    got = [r.m.read_u64(at + 8 * i) for i in range(10)]
    assert got[:3] == [0x90, 0x11, 0xB1]
    assert got[3] == 0x301 and got[4] == 0 and got[5] == (1 << 64) - 16
    assert 0 < got[6] < 100_000                  # I/O latency out, in counter ticks
    assert got[7:9] == [1, 0x77]
    assert got[9] >> 26 == 0x25 and got[9] & 0x3F == 0x10   # injected external abort
    assert r.text("vm0") == "ok\n"
    assert "that the hypervisor cannot emulate (no instruction syndrome, ISV = 0)" in r.text("hv")


@pytest.mark.parametrize("mode", MODES)
def test_two_vms_with_two_vcpus_each_pinned_on_two_pes(firmware, guests_dir, mode):
    """Both VMs' vCPU 0 on PE 0 and vCPU 1 on PE 1: the PEs switch between the VMs at every
    exit of the running vCPU, and each VM still sees only its own CPUs and memory."""
    cfg = HvConfig([VMConfig(str(guests_dir / "psci.elf"), name="a", vcpus=2, pin=[0, 1],
                             mem=32 << 20),
                    VMConfig(str(guests_dir / "psci.elf"), name="b", vcpus=2, pin=[0, 1],
                             mem=32 << 20)], mode=mode)
    r = Run(cfg, firmware)
    assert r.res.ok and r.launched.plan.smp == 2
    expected = (
        "psci: version 0x10001\n"
        "psci: features(CPU_ON) = 0, features(0x8400001f) = -1\n"
        "psci: affinity_info(cpu1) = 1\n"
        "psci: cpu_on(cpu1) = 0; it ran with context 0x1234 and is off again\n"
        "psci: cpu_on(cpu1) = 0; it ran with context 0x5678 and is off again\n"
        "psci: cpu_on(cpu0, itself) = -4\n"
        "psci: cpu_on(no such cpu) = -2\n"
        "psci: done\n")
    assert r.text("a") == expected and r.text("b") == expected
    assert [[(v.index, v.pcpu) for v in vm.vcpus] for vm in r.res.vms] == [[(0, 0), (1, 1)]] * 2
    assert r.hv_text() == r.hv_text_before


def test_psci_guest_same_output_as_qemu(firmware, guests_dir):
    """A guest built for qemu -M virt prints the same under our hypervisor (two vCPUs, PSCI
    over HVC, the PL011 emulated) as on QEMU."""
    import subprocess
    from conftest import require_tool
    qemu = require_tool("qemu-system-aarch64")
    q = subprocess.run([qemu, "-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "2",
                        "-nographic", "-kernel", str(guests_dir / "psci.elf")],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    r = Run(HvConfig([VMConfig(str(guests_dir / "psci.elf"), vcpus=2)]), firmware)
    assert r.res.ok
    assert q.stdout.replace(b"\r\n", b"\n").decode() == r.text("vm0")


def test_an_exit_costs_the_split_build_more_than_the_direct_one(firmware, tmp_path):
    """The point of the two builds, in emulated cycles (deterministic): a no-op hypercall makes
    the split build switch to the host part and back, the direct build handles it at EL2."""
    src = """
    .global _start
_start:
    ldr     x19, =COUNT
1:  ldr     x0, =0xC6000000             // ARMVIRT_HC_NOP
    hvc     #0
    subs    x19, x19, #1
    b.ne    1b
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    .ltorg
"""
    per_call = {}
    for mode in MODES:
        cycles = []
        for n in (50, 150):
            image, _ = guest_image(tmp_path, f"hc{n}", src.replace("COUNT", str(n)))
            r = Run(HvConfig([VMConfig(image, kind="raw", mem=8 << 20)], mode=mode), firmware)
            assert r.res.ok and r.stats()["hvc"] == n + 1
            cycles.append(r.m.reg("cycles", 0))
        per_call[mode] = (cycles[1] - cycles[0]) / 100
    assert 0 < per_call["direct"] < per_call["split"], per_call


# ------------------------------------------------------- interrupts: the vGIC and the virtual timer
SMP_EXPECTED = """smp: cpu_on(cpu1) = 0
smp: cpu_on(cpu2) = 0
smp: cpu_on(cpu3) = 0
smp: mpidr 0x80000000 0x80000001 0x80000002 0x80000003
smp: token ring, 20 rounds: tokens 20 20 20 20
smp: all-to-all: hellos 3 3 3 3
smp: stop to all but self: stops 0 1 1 1; cpus 1-3 off
smp: done
"""
# Trapped ICC_SGI1R_EL1 writes: 80 token passes, 12 greetings, one broadcast; and the virtual
# SGIs they put in list registers: one per target (the broadcast reaches three).
SMP_SGIS_SENT, SMP_SGIS_TAKEN = 80 + 12 + 1, 80 + 12 + 3

VTIMER_EXPECTED = """vtimer: masked timer: istatus 1, interrupts 0
vtimer: tval sets cval = cntvct + tval: yes
vtimer: 10 periodic interrupts, each at or after its deadline: yes, deadlines one period apart: yes
vtimer: expired deadline fires at once: yes
vtimer: after the handler disabled it: interrupts 11, ctl 0
vtimer: done
"""

GIC_REGS_SOURCE = Path(__file__).parent / "images" / "gic_regs.S"
GIC_REGS_EXPECTED = """gicd_ctlr(3) 0x53
gicd_ctlr(0) 0x50
gicd_typer(masked) 0x3780007
gicd_iidr 0x43b
gicd_pidr2.archrev 0x30
gicd_igroupr1 0xffffffff
gicd_isenabler1 0x100
gicd_icenabler1 0x0
gicd_ispendr1 0x200
gicd_icpendr1 0x0
gicd_isactiver1 0x0
gicd_ipriorityr10(-1) 0xffffffff
gicd_ipriority41(byte) 0x42
gicd_ipriorityr10 0xffff42ff
gicd_icfgr2 0xaaaa0008
gicd_irouter40 0x1
gicd_irouter40[63:32] 0x0
gicd_irouter41 0x8000ffff
gicr0_typer(masked) 0x0
gicr1_typer(masked) 0x100000110
gicr0_waker(reset) 0x6
gicr0_waker(awake) 0x0
gicr_pidr2.archrev 0x30
gicr0_igroupr0 0xf0
gicr0_isenabler0 0x8000030
gicr0_icenabler0 0x8000020
gicr0_ispendr0 0x40
gicr0_icpendr0 0x0
gicr0_isactiver0 0x0
gicr0_ipriorityr1 0x12345678
gicr0_ipriorityr7 0xff0000
gicr0_icfgr0 0xaaaaaaaa
gicr0_icfgr0(after 0) 0xaaaaaaaa
gicr0_icfgr1 0x0
gicr1_isenabler0 0x0
gicr1_ipriorityr1 0x0
gic_regs: done
"""


def qemu_run(image: Path, smp: int, machine: str = "virt,gic-version=3") -> str:
    """The console output of IMAGE on qemu-system-aarch64 (skips when it is not installed); a
    Cortex-A76 model, for the Armv8.1 atomics of smp_gic."""
    import subprocess
    from conftest import require_tool
    qemu = require_tool("qemu-system-aarch64")
    q = subprocess.run([qemu, "-M", machine, "-cpu", "cortex-a76", "-smp", str(smp),
                        "-nographic", "-kernel", str(image)],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    return q.stdout.replace(b"\r\n", b"\n").decode()


def smp_gic_expected() -> str:
    from test_smp import EXPECTED
    return EXPECTED.decode()


@pytest.mark.parametrize("mode", MODES)
def test_smp_guest_ipis_between_vcpus_on_four_pes(firmware, guests_dir, mode):
    """PSCI CPU_ON and IPIs: every SGI a vCPU sends traps (ICC_SGI1R_EL1) and becomes a
    virtual SGI in its target's list registers, the target's PE kicked out of the guest or of
    WFI; nothing is lost or delivered twice."""
    r = Run(HvConfig([VMConfig(str(guests_dir / "smp.elf"), vcpus=4)], mode=mode), firmware)
    assert r.res.ok and r.launched.plan.smp == 4
    assert r.text("vm0") == SMP_EXPECTED
    stats = [r.stats(0, i) for i in range(4)]
    assert sum(s["vsgi"] for s in stats) == SMP_SGIS_SENT
    assert sum(s["virq"] for s in stats) == SMP_SGIS_TAKEN
    assert all(s["irq"] > 0 for s in stats[1:])          # kicked out of the guest
    assert r.hv_text() == r.hv_text_before


@pytest.mark.parametrize("mode", MODES)
def test_smp_guest_with_two_vcpus_per_pe(firmware, guests_dir, mode):
    """Four vCPUs on two PEs: IPIs to a vCPU on the same PE (blocked in WFI or waiting for its
    turn) and on the other one."""
    cfg = HvConfig([VMConfig(str(guests_dir / "smp.elf"), vcpus=4, pin=[0, 0, 1, 1])],
                   mode=mode)
    r = Run(cfg, firmware)
    assert r.res.ok and r.launched.plan.smp == 2
    assert r.text("vm0") == SMP_EXPECTED
    assert sum(r.stats(0, i)["virq"] for i in range(4)) == SMP_SGIS_TAKEN


@pytest.mark.parametrize("mode", MODES)
def test_vtimer_guest(firmware, guests_dir, mode):
    """Periodic virtual timer interrupts: each one is the vCPU's physical PPI 27 handed over in
    a list register; while the guest sleeps in WFI the hypervisor's own timer watches its
    deadline and wakes it."""
    r = Run(HvConfig([VMConfig(str(guests_dir / "vtimer.elf"))], mode=mode), firmware)
    assert r.res.ok and r.text("vm0") == VTIMER_EXPECTED
    s = r.stats()
    assert s["virq"] == 11                               # every interrupt the guest counted
    assert s["wfi"] >= 10 and s["sysreg"] == 0           # slept; no timer register trapped


@pytest.mark.parametrize("mode", MODES)
def test_two_vtimer_vms_share_a_pe(firmware, guests_dir, mode):
    """Two VMs with their own virtual timers on one PE: the timers move with the vCPUs, and
    the deadline of the one that is not running (blocked in WFI) wakes it."""
    cfg = HvConfig([VMConfig(str(guests_dir / "vtimer.elf"), name="a", pin=[0]),
                    VMConfig(str(guests_dir / "vtimer.elf"), name="b", pin=[0])], mode=mode)
    r = Run(cfg, firmware)
    assert r.res.ok and r.launched.plan.smp == 1
    assert r.text("a") == r.text("b") == VTIMER_EXPECTED
    assert r.stats(0)["virq"] == r.stats(1)["virq"] == 11


@pytest.mark.parametrize("mode", MODES)
def test_smp_gic_guest_runs_unchanged_under_the_hypervisor(firmware, guests_dir, mode):
    """guests/smp_gic.S, written for the bare board and QEMU (SGIs by target list and to all
    but self, priorities and preemption, EOImode = 1 with ICC_DIR_EL1, GICR_ISACTIVER0,
    periodic virtual timers on both CPUs, PSCI), prints the same as a guest: every ICC_*
    access of the guest reaches the virtual CPU interface, every GIC register access the
    emulated distributor and redistributors."""
    r = Run(HvConfig([VMConfig(str(guests_dir / "smp_gic.elf"), vcpus=2)], mode=mode), firmware)
    assert r.res.ok
    assert r.text("vm0") == smp_gic_expected()


@pytest.mark.parametrize("mode", MODES)
def test_interrupt_guests_are_deterministic(firmware, guests_dir, mode):
    """The same guest twice: the same output, cycle counts, instruction counts and exits on
    every PE, IPIs, timers, kicks and sleeping included."""
    def once():
        r = Run(HvConfig([VMConfig(str(guests_dir / "smp_gic.elf"), vcpus=2)], mode=mode),
                firmware)
        return (r.text("vm0"),
                [(r.m.reg("cycles", pe), r.m.reg("instret", pe)) for pe in range(2)],
                [r.stats(0, i) for i in range(2)])
    a, b = once(), once()
    assert a == b
    assert a[0] == smp_gic_expected()


@pytest.mark.parametrize("name, smp", [("smp_gic", 2), ("smp", 4), ("vtimer", 1)])
def test_interrupt_guests_same_output_as_qemu(firmware, guests_dir, name, smp):
    """Guests using the GIC, the virtual timer and PSCI print the same on qemu-system-aarch64
    -M virt,gic-version=3 as under both builds of the hypervisor."""
    image = guests_dir / f"{name}.elf"
    q = qemu_run(image, smp)
    for mode in MODES:
        r = Run(HvConfig([VMConfig(str(image), vcpus=smp)], mode=mode), firmware)
        assert r.res.ok
        assert r.text("vm0") == q, mode


@pytest.fixture(scope="module")
def gic_regs_image(tmp_path_factory):
    from armvirt.build import GUESTS, build_guest
    return build_guest(GIC_REGS_SOURCE, tmp_path_factory.mktemp("gic_regs"),
                       include_dirs=[GUESTS / "include"])


def test_gic_registers_as_on_the_board(firmware, gic_regs_image):
    """The emulated distributor and redistributors against the board's GIC (an independent
    implementation, armvirt/devices/gic.py): the same guest programs and reads them the same
    way bare and under both builds."""
    from armvirt.loader import load_image
    from armvirt.machine import Machine
    m = Machine(ram_size=64 << 20, smp=2)
    load_image(m, gic_regs_image)
    assert m.run(max_insns=5_000_000).reason == "system_off"
    assert m.console.decode() == GIC_REGS_EXPECTED
    for mode in MODES:
        r = Run(HvConfig([VMConfig(str(gic_regs_image), vcpus=2)], mode=mode), firmware)
        assert r.res.ok and r.text("vm0") == GIC_REGS_EXPECTED, mode


def test_gic_registers_as_on_qemu(gic_regs_image):
    assert qemu_run(gic_regs_image, 2, "virt,gic-version=3,its=off") == GIC_REGS_EXPECTED


@pytest.mark.parametrize("mode", MODES)
def test_the_virtual_timer_is_a_hardware_mapped_list_register(firmware, guests_dir, mode):
    """In the guest's timer handler, after its acknowledge: the interrupt is active in a list
    register with HW = 1 and pINTID 27, and the physical PPI 27 of the PE is active too (the
    hypervisor did not deactivate it). After the guest's EOI: the list register is free and
    the physical PPI 27 inactive — the guest's EOI deactivated it, without a trap."""
    from armvirt.loader import read_elf
    image = guests_dir / "vtimer.elf"
    sym = read_elf(image.read_bytes()).symbols
    cfg = HvConfig([VMConfig(str(image))], mode=mode)
    out = bytearray()
    m, _ = launch(cfg, uart=out.extend, firmware=firmware[mode])

    def ppi27_active():
        return any(i["intid"] == 27 and i["pe"] == 0 and i["active"]
                   for i in m.gic_info()["interrupts"])

    def timer_lrs():
        return [lr for lr in m.vgic_info(0)["lrs"]
                if lr["vintid"] == 27 and lr["state"] != "invalid"]
    m.add_breakpoint(sym["vtimer_acked"], el=1, vmid=1)
    m.add_breakpoint(sym["vtimer_eoied"], el=1, vmid=1)
    seen = 0
    while (info := m.run(20_000_000)).reason == "breakpoint":
        if info.pc == sym["vtimer_acked"]:
            assert m.reg("x0", 0) == 27
            (lr,) = timer_lrs()
            assert (lr["state"], lr["hw"], lr["pintid"]) == ("active", True, 27)
            assert ppi27_active()
        else:
            assert timer_lrs() == [] and not ppi27_active()
            seen += 1
    assert info.reason == "system_off" and seen == 11


SPINNER = """
    .global _start
_start:
    ldr     x19, =ITERS                 // about 2 * ITERS cycles without an exit
1:  subs    x19, x19, #1
    b.ne    1b
    ldr     x1, =UART_BASE
    mov     w2, #'k'
    strb    w2, [x1]
    mov     w2, #10
    strb    w2, [x1]
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    .ltorg
"""


@pytest.mark.parametrize("mode", MODES)
def test_time_slicing_shares_a_pe_between_vcpus_that_never_exit(firmware, tmp_path, mode):
    """Two VMs that compute for about 3 ms each without a single exit, pinned to one PE: the
    host timer ends each one's slice (TIME_SLICE_TICKS, 1 ms) and the other runs, so both make
    progress at once and are preempted alike. Alone, a VM is never preempted."""
    image, _ = guest_image(tmp_path, "spin", SPINNER.replace("ITERS", "1500000"))
    alone = Run(HvConfig([VMConfig(image, kind="raw", mem=8 << 20)], mode=mode), firmware)
    assert alone.res.ok and alone.text("vm0") == "k\n" and alone.stats()["irq"] == 0
    cfg = HvConfig([VMConfig(image, kind="raw", name="a", pin=[0], mem=8 << 20),
                    VMConfig(image, kind="raw", name="b", pin=[0], mem=8 << 20)], mode=mode)
    r = Run(cfg, firmware)
    assert r.res.ok and r.text("a") == r.text("b") == "k\n"
    slices = [r.stats(i)["irq"] for i in range(2)]
    assert min(slices) >= 2 and abs(slices[0] - slices[1]) <= 1, slices
    assert abi.TIME_SLICE_TICKS == 62_500


@pytest.mark.parametrize("mode", MODES)
def test_microbenchmark_guest(firmware, guests_dir, mode):
    """guests/microbench.S measures every KVM/ARM microbenchmark from inside (benchmarks/hv.py
    prints the table); the figures are deterministic emulated cycles, and the direct build's
    exits are cheaper than the split build's."""
    import benchmarks.hv as bench
    image = str(guests_dir / "microbench.elf")
    got = {m: bench.kvm_micro(m, image, firmware[m]) for m in MODES}
    again = bench.kvm_micro(mode, image, firmware[mode])
    assert set(got[mode]) == set(bench.PUBLISHED) and again == got[mode]
    assert all(v > 0 for v in got[mode].values())
    for name in ("hypercall", "gicd_iidr", "io_out"):
        assert got["direct"][name] < got["split"][name], name
    assert got[mode]["virtual_eoi"] < 10             # no trap: the list registers do it


@pytest.mark.parametrize("mode", MODES)
def test_two_gic_vms_with_two_vcpus_each_on_two_pes_time_sliced(firmware, guests_dir, mode):
    """Two VMs of smp_gic (two vCPUs each: IPIs, timers, spinlocks, spinning waits), vCPU n of
    both on PE n: each PE time-slices between the two VMs' vCPUs, every interrupt reaches the
    right VM's vCPU, and both VMs print what they print alone."""
    image = str(guests_dir / "smp_gic.elf")
    cfg = HvConfig([VMConfig(image, name="a", vcpus=2, pin=[0, 1]),
                    VMConfig(image, name="b", vcpus=2, pin=[0, 1])], mode=mode)
    r = Run(cfg, firmware)
    assert r.res.ok and r.launched.plan.smp == 2
    assert r.text("a") == r.text("b") == smp_gic_expected()
    assert r.hv_text() == r.hv_text_before


OVERFLOW = """
    .global _start
_start:
    adr     x0, stack_top
    mov     sp, x0
    adr     x0, vectors
    msr     vbar_el1, x0
    ldr     x1, =GICD_BASE
    mov     w2, #2                      // Group 1
    str     w2, [x1]
    ldr     x1, =GICR_BASE
    str     wzr, [x1, #0x14]            // GICR_WAKER
1:  ldr     w2, [x1, #0x14]
    tbnz    w2, #2, 1b
    add     x1, x1, #0x10000
    mov     w2, #0x7E                   // SGIs 1-6: Group 1, enabled
    str     w2, [x1, #0x80]
    str     w2, [x1, #0x100]
    ldr     w2, =0x30201000             // priority 0x10 * n for SGI n
    str     w2, [x1, #0x400]
    ldr     w2, =0x00605040
    str     w2, [x1, #0x404]
    mov     x2, #0xff
    msr     icc_pmr_el1, x2
    mov     x2, #1
    msr     icc_igrpen1_el1, x2
    isb
    mov     x19, #1                     // SGIs 1..6 to itself, interrupts masked
2:  lsl     x0, x19, #24
    orr     x0, x0, #1
    msr     icc_sgi1r_el1, x0
    add     x19, x19, #1
    cmp     x19, #7
    b.lo    2b
    adr     x20, count
3:  msr     daifclr, #2                 // take them; sleep until all six came
    msr     daifset, #2
    ldr     x0, [x20]
    cmp     x0, #6
    b.hs    4f
    wfi
    b       3b
4:  adr     x20, order                  // print the order they came in
    mov     x21, #0
5:  ldrb    w0, [x20, x21]
    add     w0, w0, #'0'
    bl      putc
    add     x21, x21, #1
    cmp     x21, #6
    b.lo    5b
    mov     w0, #10
    bl      putc
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0

putc:
    ldr     x9, =UART_BASE
    strb    w0, [x9]
    ret

irq:
    mrs     x0, icc_iar1_el1
    cmp     x0, #1020
    b.hs    1f
    adr     x1, count
    ldr     x2, [x1]
    adr     x3, order
    strb    w0, [x3, x2]
    add     x2, x2, #1
    str     x2, [x1]
    msr     icc_eoir1_el1, x0
1:  eret

    .balign 2048
vectors:
    .space  0x280
    b       irq
    .ltorg
    .balign 8
count:  .quad 0
order:  .quad 0
    .space  1024
stack_top:
"""


@pytest.mark.parametrize("mode", MODES)
def test_more_pending_interrupts_than_list_registers(firmware, tmp_path, mode):
    """Six SGIs pending at once for a vCPU with four list registers: four go in, the other two
    wait in the emulated redistributor with ICH_HCR_EL2.UIE set; when the guest has emptied
    the list registers the maintenance interrupt (PPI 25) takes the vCPU out and the rest go
    in. All six arrive, in priority order (SGI n has priority 0x10 * n)."""
    image, _ = guest_image(tmp_path, "overflow", OVERFLOW)
    r = Run(HvConfig([VMConfig(image, kind="raw", mem=8 << 20)], mode=mode), firmware)
    assert r.res.ok and r.text("vm0") == "123456\n"
    s = r.stats()
    assert s["vsgi"] == 6 and s["virq"] == 6 and s["irq"] >= 1
