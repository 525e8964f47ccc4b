"""The cycle cost model: every emulated cycle count in armvirt comes from a *profile*.

Time in armvirt is virtual and deterministic. A profile is a TOML file (``armvirt/profiles/``:
``simple``, the default for teaching, ``cortex-a15`` and ``x-gene``; or any file a user names)
that gives, with a public source beside each number,

* ``[instructions]``: the cycles of one instruction of each class (``INSN_CLASSES``; which
  decoder op is in which class: ``op_class``);
* ``[events]``: extra cycles of an event on top of the instruction that caused it
  (``EVENTS``: exception entry and return, a taken conditional branch, each descriptor read of
  a translation table walk, an access to a device, cache and TLB maintenance, WFI wake-up);
* ``[sysreg.CLASS]``: extra cycles of a completed MRS (``read``) and MSR (``write``) of a
  register of that class (``SYSREG_CLASSES``; which register is in which: ``sysreg_class``);
* ``[clock]``: the CPU clock. The board's system counter runs at ``COUNTER_HZ`` (QEMU virt's
  62.5 MHz) under every profile; it ticks once every ``cycles_per_tick`` cycles, so the CPU
  clock a profile gets is ``COUNTER_HZ * cycles_per_tick`` (``Profile.cpu_hz``).

``Profile.apply`` writes it into the machine state the core reads (``layout.S_COST``,
``S_OPCOST``, the ``SRI_RCOST``/``SRI_WCOST`` columns of the system-register records, each PE's
``TICK_CYCLES``): data, not compiled constants, so changing profile never recompiles the core.
PMCCNTR_EL0, the generic timer and every report derive from those cycles.
"""
from __future__ import annotations

try:
    import tomllib
except ModuleNotFoundError:   # Python 3.10
    import tomli as tomllib   # type: ignore[no-redef]
from dataclasses import dataclass, field
from pathlib import Path

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
DEFAULT = "simple"

# The board's system counter (CNTFRQ_EL0): QEMU's virt board reports 62.5 MHz; so do we.
COUNTER_HZ = 62_500_000

INSN_CLASSES = ("alu", "multiply", "multiply_high", "divide", "load_store", "branch",
                "branch_taken", "fp_simd", "system", "dsb", "dmb", "isb")
EVENTS = ("exception_entry", "exception_return", "descriptor_read", "mmio",
          "cache_maintenance", "tlbi", "wfi_wakeup")
SYSREG_CLASSES = ("pstate", "el1", "el2", "el2_vm", "gic_cpu", "gic_virt", "timer", "pmu")


class ProfileError(ValueError):
    """A profile that cannot be used (unknown name, unreadable or malformed file): one line."""


def op_class(name: str, unit: str) -> str:
    """The instruction class of decoder op ``name`` (``armvirt.isa._decoder.OP_NAMES``) from
    decode unit ``unit`` (``OP_FILES``)."""
    if unit in ("ldst.decode", "simd_ldst.decode"):
        return "load_store"
    if unit in ("fp.decode", "simd.decode", "simd_fp.decode", "fpmove.decode"):
        return "fp_simd"
    special = {"DIV": "divide", "MADDSUB": "multiply", "MADDSUBL": "multiply",
               "MULH": "multiply_high", "B_cond": "branch", "CBZ": "branch", "CBNZ": "branch",
               "TBZ": "branch", "TBNZ": "branch", "B": "branch_taken", "BL": "branch_taken",
               "BR": "branch_taken", "BLR": "branch_taken", "RET": "branch_taken",
               "DSB": "dsb", "DMB": "dmb", "ISB": "isb", "MSR_imm": "system",
               "MSR_reg": "system", "MRS": "system", "SYS": "system", "SYSL": "system"}
    return special.get(name, "alu")


_EL2_VM = {"VTTBR_EL2", "VTCR_EL2", "VPIDR_EL2", "VMPIDR_EL2"}
_PSTATE = {"NZCV", "DAIF", "SPSel", "CurrentEL", "PAN"}


def sysreg_class(r) -> str:
    """The cost class of system register record ``r`` (``armvirt.cpu.sysreg_table.SysReg``):
    the groups the KVM/ARM papers measure a world switch by (Dall et al., ISCA 2016, Table 3)."""
    from armvirt.cpu import sysreg_table as T
    n = r.name
    if r.kind == T.KIND_GIC or n.startswith(("ICC_", "ICH_")):
        return "gic_virt" if n.startswith("ICH_") else "gic_cpu"
    if r.kind == T.KIND_TIMER or n in ("CNTHCTL_EL2", "CNTVOFF_EL2", "CNTPCT_EL0",
                                       "CNTVCT_EL0", "CNTFRQ_EL0"):
        return "timer"
    if r.kind == T.KIND_PMU:
        return "pmu"
    if n in _EL2_VM:
        return "el2_vm"
    if n in _PSTATE:
        return "pstate"
    if n.endswith("_EL2"):
        return "el2"
    return "el1"


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    version: int
    cycles_per_tick: int
    insn: dict[str, int]
    events: dict[str, int]
    sysreg: dict[str, tuple[int, int]]
    path: str = ""
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def cpu_hz(self) -> int:
        return COUNTER_HZ * self.cycles_per_tick

    def op_costs(self):
        """Cycles per decoder op (the ``S_OPCOST`` region)."""
        import numpy as np
        from armvirt.isa._decoder import OP_FILES, OP_NAMES
        return np.array([self.insn[op_class(n, f)] for n, f in zip(OP_NAMES, OP_FILES)],
                        dtype=np.int64)

    def event_costs(self):
        """The ``S_COST`` region."""
        import numpy as np
        from armvirt import layout as L
        out = np.zeros(L.COST_SIZE, dtype=np.int64)
        e = self.events
        out[L.COST_EXC_ENTRY] = e["exception_entry"]
        out[L.COST_EXC_RETURN] = e["exception_return"]
        out[L.COST_BRANCH_TAKEN] = self.insn["branch_taken"] - self.insn["branch"]
        out[L.COST_DESC_READ] = e["descriptor_read"]
        out[L.COST_MMIO] = e["mmio"]
        out[L.COST_CACHE_MAINT] = e["cache_maintenance"]
        out[L.COST_TLBI] = e["tlbi"]
        out[L.COST_WFI_WAKE] = e["wfi_wakeup"]
        return out

    def sysreg_cost(self, r, write: bool) -> int:
        return self.sysreg[sysreg_class(r)][1 if write else 0]

    def apply(self, state, cpus=None) -> None:
        """Write the profile into a machine's state array (and its PE rows)."""
        from armvirt import layout as L
        from armvirt.cpu import sysreg_table as T
        from armvirt.isa._decoder import NUM_OPS
        state[L.S_COST:L.S_COST + L.COST_SIZE] = self.event_costs()
        state[L.S_OPCOST:L.S_OPCOST + NUM_OPS] = self.op_costs()
        for i, r in enumerate(T.SYSREGS):
            row = L.S_SR_INFO + i * L.SRI_SIZE
            state[row + L.SRI_RCOST] = self.sysreg_cost(r, False)
            state[row + L.SRI_WCOST] = self.sysreg_cost(r, True)
        if cpus is not None:
            for c in cpus:
                c[L.TICK_CYCLES] = self.cycles_per_tick


def names() -> list[str]:
    """The profiles shipped with armvirt."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


_CACHE: dict[str, Profile] = {}


def load(spec: "str | Path | Profile | None" = None) -> Profile:
    """A profile by name (``simple``, ``cortex-a15``, ``x-gene``) or by path of a TOML file.
    Raises ProfileError with a one-line message for anything unusable."""
    if isinstance(spec, Profile):
        return spec
    spec = str(spec) if spec is not None else DEFAULT
    if spec in _CACHE:
        return _CACHE[spec]
    path = Path(spec)
    if not (spec.endswith(".toml") or "/" in spec or path.is_file()):
        path = PROFILE_DIR / f"{spec}.toml"
        if not path.is_file():
            raise ProfileError(f"unknown cost profile {spec!r} (known: {', '.join(names())}; "
                               "or the path of a .toml file)")
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise ProfileError(f"cannot read cost profile {spec}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"cost profile {spec}: not valid TOML: {e}") from None
    prof = _parse(data, str(path))
    _CACHE[spec] = prof
    return prof


def _int(where: str, v, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ProfileError(f"{where} must be an integer number of cycles, not {v!r}")
    if v < minimum:
        raise ProfileError(f"{where} must be at least {minimum}, not {v}")
    return v


def _table(data: dict, key: str, where: str) -> dict:
    t = data.get(key)
    if not isinstance(t, dict):
        raise ProfileError(f"{where}: missing table [{key}]")
    return t


def _exact(t: dict, keys: tuple, where: str) -> None:
    unknown = sorted(set(t) - set(keys))
    missing = [k for k in keys if k not in t]
    if unknown:
        raise ProfileError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(keys)})")
    if missing:
        raise ProfileError(f"{where}: missing key {missing[0]!r}")


def _parse(data: dict, path: str) -> Profile:
    where = Path(path).name
    top = ("profile", "clock", "instructions", "events", "sysreg", "sources")
    unknown = sorted(set(data) - set(top))
    if unknown:
        raise ProfileError(f"{where}: unknown table [{unknown[0]}]")
    meta = _table(data, "profile", where)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ProfileError(f"{where}: [profile] needs a name")
    version = _int(f"{where}: [profile] version", meta.get("version"), 1)
    clock = _table(data, "clock", where)
    _exact(clock, ("cycles_per_tick",), f"{where} [clock]")
    cpt = _int(f"{where}: [clock] cycles_per_tick", clock["cycles_per_tick"], 1)
    insn_t = _table(data, "instructions", where)
    _exact(insn_t, INSN_CLASSES, f"{where} [instructions]")
    # Every instruction costs at least one cycle: the run loop plans its slices on that.
    insn = {k: _int(f"{where}: instructions.{k}", insn_t[k], 1) for k in INSN_CLASSES}
    if insn["branch_taken"] < insn["branch"]:
        raise ProfileError(f"{where}: instructions.branch_taken must be at least "
                           "instructions.branch")
    ev_t = _table(data, "events", where)
    _exact(ev_t, EVENTS, f"{where} [events]")
    events = {k: _int(f"{where}: events.{k}", ev_t[k], 0) for k in EVENTS}
    sr_t = _table(data, "sysreg", where)
    _exact(sr_t, SYSREG_CLASSES, f"{where} [sysreg]")
    sysreg = {}
    for k in SYSREG_CLASSES:
        t = sr_t[k]
        if not isinstance(t, dict):
            raise ProfileError(f"{where}: sysreg.{k} must be a table with read and write")
        _exact(t, ("read", "write"), f"{where} [sysreg.{k}]")
        sysreg[k] = (_int(f"{where}: sysreg.{k}.read", t["read"], 0),
                     _int(f"{where}: sysreg.{k}.write", t["write"], 0))
    sources = data.get("sources", {})
    if not isinstance(sources, dict) or not all(isinstance(v, str) for v in sources.values()):
        raise ProfileError(f"{where}: [sources] must map keys to citations")
    return Profile(name=name, description=str(meta.get("description", "")), version=version,
                   cycles_per_tick=cpt, insn=insn, events=events, sysreg=sysreg, path=path,
                   sources=dict(sources))
