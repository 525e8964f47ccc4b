"""Page-table builder (dict-backed memory) and hypothesis strategies for translation tests.

The builder keeps its own model of what it wrote (``Tables.expect``) so tests can compare the
reference walker (tests/refwalk.py) and, later, the jitted MMU against it. Register encodings
follow the Arm ARM (TCR_EL1, TCR_EL2, VTCR_EL2, TTBRn, descriptor formats in D8.3); this module
uses no armvirt code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from hypothesis import strategies as st

PAMAX = 40
GRANULES = (4096, 16384, 65536)
_TG0 = {4096: 0b00, 65536: 0b01, 16384: 0b10}
_TG1 = {4096: 0b10, 65536: 0b11, 16384: 0b01}
_FIRST_BLOCK = {4096: 1, 16384: 2, 65536: 2}


def gbits(granule: int) -> int:
    return granule.bit_length() - 1


def bottom(level: int, granule: int) -> int:
    g = gbits(granule)
    return (3 - level) * (g - 3) + g


def s1_start_level(inputsize: int, granule: int) -> int:
    g = gbits(granule)
    return 4 - (1 + (inputsize - g - 1) // (g - 3))


def leaf_levels(granule: int, start_level: int) -> list[int]:
    """Levels at which a leaf (block or page) may sit: blocks from firstblocklevel, pages at 3."""
    return [lv for lv in range(max(start_level, _FIRST_BLOCK[granule]), 4)]


# ---------------------------------------------------------------- memory and allocation

class Memory:
    """Sparse 64-bit-word memory: ``mem(pa)`` is the walkers' read64. Unwritten words inside
    [0, limit) read as 0; outside, or inside a hole, read as None (external abort)."""

    def __init__(self, limit: int = 1 << PAMAX):
        self.words: dict[int, int] = {}
        self.limit = limit
        self.holes: list[tuple[int, int]] = []

    def __call__(self, pa: int) -> Optional[int]:
        assert pa % 8 == 0, hex(pa)
        if pa >= self.limit or any(lo <= pa < hi for lo, hi in self.holes):
            return None
        return self.words.get(pa, 0)

    def write64(self, pa: int, value: int) -> None:
        assert pa % 8 == 0 and 0 <= value < 1 << 64
        self.words[pa] = value


class Allocator:
    """Bump allocator for table pages (naturally aligned to max(granule, size))."""

    def __init__(self, start: int = 0x4000_0000):
        self.next = start

    def alloc(self, size: int, align: int) -> int:
        addr = -(-self.next // align) * align
        self.next = addr + max(size, align)
        return addr


# ---------------------------------------------------------------- register values

def tcr_el1(*, t0sz=16, tg0=4096, t1sz=16, tg1=4096, ips=0b010, epd0=0, epd1=0, tbi0=0,
            tbi1=0, as16=1, a1=0) -> int:
    return (t0sz | epd0 << 7 | _TG0[tg0] << 14 | t1sz << 16 | a1 << 22 | epd1 << 23
            | _TG1[tg1] << 30 | ips << 32 | as16 << 36 | tbi0 << 37 | tbi1 << 38)


def tcr_el2(*, t0sz=16, tg0=4096, ps=0b010, tbi=0) -> int:
    return t0sz | _TG0[tg0] << 14 | ps << 16 | tbi << 20 | 1 << 23 | 1 << 31   # RES1 bits


def vtcr(*, t0sz: int, start_level: int, tg0=4096, ps=0b010) -> int:
    sl0 = (2 - start_level) if tg0 == 4096 else (3 - start_level)
    assert 0 <= sl0 <= 2, "start level not encodable"
    return t0sz | sl0 << 6 | _TG0[tg0] << 14 | ps << 16 | 1 << 31


def ttbr(base: int, asid: int = 0) -> int:
    return base | asid << 48


SCTLR_M = 1
SCTLR_WXN = 1 << 19


# ---------------------------------------------------------------- descriptors

def s1_leaf(pa: int, level: int, *, ap=0, uxn=0, pxn=0, af=1, ng=0, attr=0, sh=3) -> int:
    """Stage 1 block (level < 3, bits[1:0]=01) or page (level 3, 11). ap is AP[2:1]."""
    kind = 0b11 if level == 3 else 0b01
    return (pa | kind | attr << 2 | ap << 6 | sh << 8 | af << 10 | ng << 11 | pxn << 53
            | uxn << 54)


def s2_leaf(pa: int, level: int, *, s2ap=0b11, xn=0, af=1, memattr=0xF, sh=3) -> int:
    kind = 0b11 if level == 3 else 0b01
    return pa | kind | memattr << 2 | s2ap << 6 | sh << 8 | af << 10 | xn << 54


def table_desc(addr: int, *, pxntable=0, uxntable=0, aptable=0) -> int:
    return addr | 0b11 | pxntable << 59 | uxntable << 60 | aptable << 61


# ---------------------------------------------------------------- the builder

@dataclass
class Leaf:
    va: int
    size: int
    pa: int
    level: int
    desc: int


class Tables:
    """One translation table tree (one TTBR / VTTBR) for one granule and start level.

    stage 1: start level from the input size (AArch64.S1StartLevel); stage 2: given, and the
    root is ``8 << (inputsize - bottom(start))`` bytes (concatenated tables when > granule).
    """

    def __init__(self, mem: Memory, alloc: Allocator, *, granule: int, inputsize: int,
                 stage: int = 1, start_level: Optional[int] = None, upper: bool = False):
        self.mem, self.alloc, self.granule, self.inputsize = mem, alloc, granule, inputsize
        self.stage = stage
        self.upper = upper               # TTBR1 half: VAs are sign-extended (bits >= inputsize set)
        self.start = s1_start_level(inputsize, granule) if start_level is None else start_level
        root_bytes = 8 << (inputsize - bottom(self.start, granule))
        self.root = alloc.alloc(root_bytes, max(root_bytes, granule) if stage == 2
                                else granule)
        # model: table address -> {index: ("table", addr) | ("leaf", Leaf) | ("raw", desc)}
        self.nodes: dict[int, dict] = {self.root: {}}
        self.leaves: list[Leaf] = []
        self.table_descs: dict[int, int] = {}   # descriptor PA -> extra attribute bits

    # -- addressing
    def _index(self, va: int, level: int) -> int:
        top = self.inputsize - 1 if level == self.start else bottom(level, self.granule) + \
            gbits(self.granule) - 4
        lo = bottom(level, self.granule)
        return (va >> lo) & ((1 << (top - lo + 1)) - 1)

    def _slot(self, table: int, va: int, level: int) -> int:
        return table + 8 * self._index(va, level)

    def _table_at(self, va: int, level: int, create: bool = True) -> Optional[int]:
        """The table that resolves ``level`` for ``va``, creating intermediate tables."""
        table = self.root
        for lv in range(self.start, level):
            idx = self._index(va, lv)
            ent = self.nodes[table].get(idx)
            if ent is None:
                if not create:
                    return None
                child = self.alloc.alloc(self.granule, self.granule)
                self.nodes[child] = {}
                self.nodes[table][idx] = ("table", child)
                self.mem.write64(table + 8 * idx, table_desc(child))
                ent = ("table", child)
            if ent[0] != "table":
                return None
            table = ent[1]
        return table

    def canonical(self, va: int) -> int:
        return va | (((1 << 64) - 1) ^ ((1 << self.inputsize) - 1)) if self.upper else va

    # -- building
    def map(self, va: int, pa: int, size: int, *, level: int, **attrs) -> bool:
        """Map [va, va+size) -> [pa, ...) with leaves at ``level``. Returns False (and writes
        nothing more) if a slot is already used by a table or another leaf."""
        step = 1 << bottom(level, self.granule)
        assert va % step == 0 and pa % step == 0 and size % step == 0 and size > 0
        assert level >= self.start
        mk = s1_leaf if self.stage == 1 else s2_leaf
        for off in range(0, size, step):
            table = self._table_at(va + off, level)
            if table is None:
                return False
            idx = self._index(va + off, level)
            if idx in self.nodes[table]:
                return False
            desc = mk(pa + off, level, **attrs)
            leaf = Leaf(self.canonical(va + off), step, pa + off, level, desc)
            self.nodes[table][idx] = ("leaf", leaf)
            self.mem.write64(table + 8 * idx, desc)
            self.leaves.append(leaf)
        return True

    def set_raw(self, va: int, level: int, desc: int) -> bool:
        """Write an arbitrary non-table descriptor (invalid, reserved, level-0 block...)."""
        table = self._table_at(va, level)
        if table is None:
            return False
        idx = self._index(va, level)
        if idx in self.nodes[table]:
            return False
        self.nodes[table][idx] = ("raw", desc)
        self.mem.write64(table + 8 * idx, desc)
        return True

    def set_table_attrs(self, va: int, level: int, **attrs) -> None:
        """Add APTable/UXNTable/PXNTable to the existing table descriptor at ``level``."""
        table = self._table_at(va, level, create=False)
        ent = self.nodes[table][self._index(va, level)]
        assert ent[0] == "table"
        self.mem.write64(self._slot(table, va, level), table_desc(ent[1], **attrs))

    def descriptor_address(self, va: int, level: int) -> Optional[int]:
        table = self._table_at(va, level, create=False)
        return None if table is None else self._slot(table, va, level)

    # -- the model's answer
    def expect(self, va: int, outputsize: int = PAMAX):
        """What a correct walk of this tree gives, from the model (not from memory):
        ("ok", pa, level, desc) or (fault type, level) for translation / address_size /
        access_flag. Permissions are not modelled here."""
        return self.expect_path(va, outputsize)[0]

    def expect_path(self, va: int, outputsize: int = PAMAX):
        """(expect(va), [descriptor addresses the walk reads, in order])."""
        path: list[int] = []
        out = self._expect(va, outputsize, path)
        return out, path

    def _expect(self, va: int, outputsize: int, path: list):
        table = self.root
        level = self.start
        while True:
            path.append(self._slot(table, va, level))
            ent = self.nodes[table].get(self._index(va, level))
            if ent is None:
                return ("translation", level)
            if ent[0] == "table":
                table, level = ent[1], level + 1
                continue
            if ent[0] == "raw":
                d = ent[1]
                if d & 1 == 0 or (d & 3 == 1 and level == 3) or level < _FIRST_BLOCK[self.granule]:
                    return ("translation", level)
                raise AssertionError("raw entries must be invalid or reserved")
            leaf: Leaf = ent[1]
            if level < _FIRST_BLOCK[self.granule]:
                return ("translation", level)
            if leaf.pa + leaf.size - 1 >> outputsize:
                return ("address_size", level)
            if not (leaf.desc >> 10) & 1:
                return ("access_flag", level)
            return ("ok", leaf.pa + (va & (leaf.size - 1)), level, leaf.desc)


# ---------------------------------------------------------------- hypothesis strategies

@dataclass
class Scenario:
    """A generated tree plus everything a walker call needs."""
    mem: Memory
    tables: Tables
    stage: int
    regs: dict                 # walk_s1 / walk_s2 keyword arguments except the address and access
    probes: list = field(default_factory=list)   # interesting input addresses


def _raw_bad(level: int, granule: int):
    """Strategy for an invalid or reserved descriptor at ``level``."""
    choices = [st.integers(0, (1 << 64) - 1).map(lambda d: d & ~1)]        # bit0 = 0: invalid
    if level == 3:
        choices.append(st.integers(0, (1 << 47) - 1).map(lambda d: (d & ~3) | 1))  # '01' at L3
    if level < _FIRST_BLOCK[granule]:
        choices.append(st.integers(0, (1 << 47) - 1).map(lambda d: (d & ~3) | 1))  # low block
    return st.one_of(choices)


@st.composite
def _populate(draw, tables: Tables, stage: int, max_maps: int = 6):
    g = tables.granule
    levels = leaf_levels(g, tables.start)
    probes = []
    for _ in range(draw(st.integers(1, max_maps))):
        level = draw(st.sampled_from(levels))
        step = 1 << bottom(level, g)
        va = draw(st.integers(0, (1 << tables.inputsize) // step - 1)) * step
        count = draw(st.integers(1, 3))
        if va + count * step > 1 << tables.inputsize:
            count = 1
        pa_bits = draw(st.sampled_from([PAMAX] * 7 + [PAMAX + 1, 48]))     # some out of range
        pa = draw(st.integers(0, max(0, (1 << pa_bits) // step - count))) * step
        af = draw(st.sampled_from([1, 1, 1, 0]))
        if stage == 1:
            attrs = dict(ap=draw(st.integers(0, 3)), uxn=draw(st.integers(0, 1)),
                         pxn=draw(st.integers(0, 1)), ng=draw(st.integers(0, 1)),
                         attr=draw(st.integers(0, 7)), af=af)
        else:
            attrs = dict(s2ap=draw(st.integers(0, 3)), xn=draw(st.integers(0, 1)),
                         memattr=draw(st.integers(0, 15)), af=af)
        tables.map(va, pa, count * step, level=level, **attrs)
        probes += [va, va + count * step - 8, va + count * step]
    for _ in range(draw(st.integers(0, 3))):
        level = draw(st.integers(tables.start, 3))
        va = draw(st.integers(0, (1 << tables.inputsize) - 1)) & ~((1 << bottom(level, g)) - 1)
        tables.set_raw(va, level, draw(_raw_bad(level, g)))
        probes.append(va)
    probes += [draw(st.integers(0, (1 << tables.inputsize) - 1)) for _ in range(3)]
    return [tables.canonical(p) & ~7 for p in probes if p < 1 << tables.inputsize]


@st.composite
def s1_scenarios(draw, regime: str = "EL10"):
    """A random stage 1 tree (TTBR0, or TTBR1 for EL1&0 when drawn) with its registers."""
    granule = draw(st.sampled_from(GRANULES))
    tsz = draw(st.integers(16, 39))
    inputsize = 64 - tsz
    upper = regime == "EL10" and draw(st.booleans())
    mem, alloc = Memory(), Allocator()
    tables = Tables(mem, alloc, granule=granule, inputsize=inputsize, stage=1, upper=upper)
    probes = draw(_populate(tables, 1))
    if regime == "EL10":
        tcr = tcr_el1(t0sz=tsz, tg0=granule, t1sz=tsz, tg1=granule)
        regs = dict(regime="EL10", tcr=tcr, ttbr0=ttbr(tables.root if not upper else 0),
                    ttbr1=ttbr(tables.root if upper else 0), sctlr=SCTLR_M)
    else:
        regs = dict(regime="EL2", tcr=tcr_el2(t0sz=tsz, tg0=granule),
                    ttbr0=ttbr(tables.root), ttbr1=0, sctlr=SCTLR_M)
    return Scenario(mem, tables, 1, regs, probes)


def s2_geometries():
    """Every (granule, start level, input size) VTCR_EL2 accepts with a 40-bit PA."""
    out = []
    for granule in GRANULES:
        g = gbits(granule)
        for start in range(0, 4):
            if granule == 4096 and start in (0, 3) or granule != 4096 and start < 2:
                continue          # SL0 not encodable (no TTST/LPA2) or invalid for PAMax 40
            for inputsize in range(25, PAMAX + 1):
                if 1 <= inputsize - bottom(start, granule) <= (g - 3) + 4:
                    out.append((granule, start, inputsize))
    return out


@st.composite
def s2_scenarios(draw):
    """A random stage 2 tree (possibly with concatenated start tables) with VTCR/VTTBR."""
    granule, start, inputsize = draw(st.sampled_from(s2_geometries()))
    mem, alloc = Memory(), Allocator()
    tables = Tables(mem, alloc, granule=granule, inputsize=inputsize, stage=2, start_level=start)
    probes = draw(_populate(tables, 2))
    regs = dict(vtcr=vtcr(t0sz=64 - inputsize, start_level=start, tg0=granule),
                vttbr=ttbr(tables.root, draw(st.integers(0, 255))))
    return Scenario(mem, tables, 2, regs, probes)


@st.composite
def accesses(draw):
    """(el, Access, pan) triples for the EL1&0 regime."""
    from refwalk import Access   # local: pagetables stays importable without refwalk
    el = draw(st.integers(0, 1))
    kind = draw(st.sampled_from(["read", "write", "exec"]))
    unpriv = el == 1 and kind != "exec" and draw(st.booleans())
    return el, Access(kind, unpriv), draw(st.integers(0, 1))


@dataclass
class TwoStageScenario:
    """Stage 1 tables living in IPA space, a stage 2 tree mapping (most of) them identically."""
    mem: Memory
    s1: Tables
    s2: Tables
    regs: dict                 # walk_s1 kwargs except va/el/access/pan/s2
    s2regs: dict               # Stage2(**s2regs)
    probes: list = field(default_factory=list)

    def expect(self, va: int):
        """Model answer for a privileged read at EL1 (no PAN): ("ok", pa) or
        (type, level, stage, s1ptw). Stage 2 read permission is S2AP[0]."""
        def s2(ipa):
            e = self.s2.expect(ipa) if ipa < 1 << self.s2.inputsize else ("translation", 0)
            if e[0] == "ok" and not (e[3] >> 6) & 1:
                return ("permission", e[2])
            return e
        e1, path = self.s1.expect_path(va & ((1 << self.s1.inputsize) - 1))
        for ipa in path:
            e = s2(ipa)
            if e[0] != "ok":
                return (e[0], e[1], 2, True)
        if e1[0] != "ok":
            return (e1[0], e1[1], 1, False)
        e = s2(e1[1])
        if e[0] != "ok":
            return (e[0], e[1], 2, False)
        return ("ok", e[1])


@st.composite
def two_stage_scenarios(draw):
    """Stage 1 (EL1&0, TTBR0) tables allocated at IPAs from 0x4000_0000, identity-mapped by
    stage 2 at its own granule except for randomly dropped table pages (-> S1PTW faults);
    some stage 1 outputs are mapped at stage 2 too, the rest fault at stage 2."""
    geoms = [g for g in s2_geometries() if g[2] >= 32]
    g2, start2, in2 = draw(st.sampled_from(geoms))
    g1 = draw(st.sampled_from(GRANULES))
    tsz = draw(st.integers(25, 39))
    mem = Memory()
    t1 = Tables(mem, Allocator(0x4000_0000), granule=g1, inputsize=64 - tsz, stage=1)
    probes = draw(_populate(t1, 1, max_maps=4))
    t2 = Tables(mem, Allocator(0x8000_0000), granule=g2, inputsize=in2, stage=2,
                start_level=start2)
    step2 = 1 << bottom(3, g2)
    for table in list(t1.nodes):
        size = max(g1, 8 << (t1.inputsize - bottom(t1.start, g1))) if table == t1.root else g1
        if draw(st.integers(0, 9)) == 0:
            continue                                        # leave this table unmapped
        lo = table - table % step2
        t2.map(lo, lo, -(-(table + size - lo) // step2) * step2, level=3,
               s2ap=draw(st.sampled_from([0b01, 0b11] * 6 + [0b00])))
    for leaf in t1.leaves:
        if draw(st.booleans()) and leaf.pa < 1 << in2:
            lo = leaf.pa - leaf.pa % step2
            t2.map(lo, draw(st.integers(0, (1 << PAMAX) // step2 - 1)) * step2, step2,
                   level=3, s2ap=draw(st.integers(0, 3)), af=draw(st.sampled_from([1, 1, 0])))
            probes.append(leaf.va)
    regs = dict(regime="EL10", tcr=tcr_el1(t0sz=tsz, tg0=g1, t1sz=tsz, tg1=g1),
                ttbr0=ttbr(t1.root), ttbr1=0, sctlr=SCTLR_M)
    s2regs = dict(vtcr=vtcr(t0sz=64 - in2, start_level=start2, tg0=g2), vttbr=ttbr(t2.root, 1))
    return TwoStageScenario(mem, t1, t2, regs, s2regs, probes + [l.va for l in t1.leaves])
