"""Every benchmark workload, run briefly: it must power off cleanly on armvirt and end in the
same registers and memory as on unicorn (a whole-program differential check)."""
from __future__ import annotations

import pytest

from armvirt import memmap
from benchmarks.run import ITERS, WORKLOADS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
RAM = 64 << 20


@pytest.mark.parametrize("name", sorted(ITERS))
def test_workload_matches_unicorn(name, tmp_path):
    unicorn = pytest.importorskip("unicorn")
    from unicorn import arm64_const as A
    from armvirt.build import build_guest
    from armvirt.loader import load_image
    from armvirt.machine import Machine

    elf = build_guest(WORKLOADS / f"{name}.S", tmp_path, defines={"ITERS": 3})
    m = Machine(ram_size=RAM)
    boot = load_image(m, elf, dtb=False)
    info = m.run(max_insns=1_000_000)
    assert info.reason == "system_off", (info, hex(m.reg("ESR_EL1")))

    code = m.read_phys(memmap.RAM_BASE, boot.segments[0][1])
    hvc = code.find((0xD4000002).to_bytes(4, "little"))
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM)
    uc.mem_map(memmap.RAM_BASE, RAM)
    uc.mem_write(memmap.RAM_BASE, code)
    uc.emu_start(boot.entry, memmap.RAM_BASE + hvc)
    # armvirt stopped after the HVC (PSCI SYSTEM_OFF); x0 held the function id there too.
    for i in range(31):
        assert m.reg(f"x{i}") == uc.reg_read(getattr(A, f"UC_ARM64_REG_X{i}")), f"x{i}"
    assert m.reg("sp") == uc.reg_read(A.UC_ARM64_REG_SP)
    assert m.reg("nzcv") == uc.reg_read(A.UC_ARM64_REG_NZCV)
    span = 32 << 20     # code, data, the chase's 16 MiB buffer
    assert m.read_phys(memmap.RAM_BASE, span) == bytes(uc.mem_read(memmap.RAM_BASE, span))


@pytest.mark.parametrize("name", ["ldst", "chase"])
@pytest.mark.parametrize("mmu", [1, 2])
def test_workload_with_translation_computes_the_same(name, mmu, tmp_path):
    """The benchmark's translation variants (workloads/prologue.inc: EL2 builds stage 1 with
    4 KiB pages and, for mmu=2, an identity stage 2, then drops to EL1) end with the same
    registers and memory as the workload with translation off."""
    from armvirt.build import build_guest
    from armvirt.loader import load_image
    from armvirt.machine import Machine

    ends = []
    for variant in (None, mmu):
        defines = {"ITERS": 3, **({"MMU": variant} if variant else {})}
        elf = build_guest(WORKLOADS / f"{name}.S", tmp_path, defines=defines,
                          name=f"{name}-{variant}")
        m = Machine(ram_size=RAM, psci_conduit="smc" if variant else "hvc")
        load_image(m, elf, dtb=False, el=2 if variant else 1)
        info = m.run(max_insns=2_000_000)
        assert info.reason == "system_off", (info, hex(m.reg("ESR_EL1")), hex(m.reg("ESR_EL2")))
        ends.append(([m.reg(f"x{i}") for i in range(1, 30)],
                     m.read_phys(memmap.RAM_BASE + (1 << 20), 1 << 20),      # ldst's buffer
                     m.read_phys(memmap.RAM_BASE + (16 << 20), 16 << 20)))   # chase's
        if variant:
            assert m.tlb_stats(0)["misses"] > 0
    assert ends[0] == ends[1]


def test_irq_workload_takes_its_interrupts(tmp_path):
    """The interrupt benchmark (two PEs, SGI ping-pong, 200-tick timers) powers off having
    taken every ping, every pong and one timer interrupt per 200 ticks on each PE."""
    from armvirt.build import build_guest
    from armvirt.loader import load_image
    from armvirt.machine import Machine

    elf = build_guest(WORKLOADS / "irq.S", tmp_path, defines={"ITERS": 50})
    m = Machine(ram_size=16 << 20, smp=2)
    load_image(m, elf, dtb=False)
    info = m.run(max_insns=10_000_000)
    assert info.reason == "system_off", (info, hex(m.reg("ESR_EL1")))
    periods = m.reg("cycles", 0) // 16 // 200
    for pe in range(2):
        assert 50 + periods - 2 <= m.reg("x28", pe) <= 50 + periods   # pings/pongs + ticks
