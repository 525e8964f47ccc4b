"""End to end: the `armvirt` command on real images, the QEMU cross-check, and bad input."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from armvirt.hv.abi import STAT_NAMES

from conftest import ROOT, require_tool

HELLO_TEXT = b"Hello from armvirt!\n"


def armvirt(*args: str, timeout: float = 300, env: dict | None = None):
    return subprocess.run([sys.executable, "-m", "armvirt.cli", *args], capture_output=True,
                          timeout=timeout, cwd=ROOT, env=env)


def test_hello_prints_and_powers_off(guests_dir):
    r = armvirt("run", "--bare", str(guests_dir / "hello.elf"))
    assert r.stdout == HELLO_TEXT
    assert r.returncode == 0, r.stderr


def test_hello_at_el2_uses_smc_conduit(guests_dir):
    r = armvirt("run", "--bare", "--el", "2", str(guests_dir / "hello.elf"))
    assert r.stdout == HELLO_TEXT
    assert r.returncode == 0, r.stderr


def test_regs_json_and_traces(guests_dir, tmp_path):
    out = tmp_path / "regs.json"
    r = armvirt("run", "--bare", str(guests_dir / "hello.elf"), "--regs-json", str(out),
                "--trace", "exc,unimp")
    assert r.returncode == 0, r.stderr
    state = json.loads(out.read_text())
    pe0 = state["pes"][0]
    assert pe0["el"] == 1
    assert pe0["x0"] == 0x8400_0008          # the PSCI function it called last
    assert pe0["instret"] > len(HELLO_TEXT) * 4
    assert pe0["power"] == "off"
    assert b"unimp: no UNDEFINED instruction was executed" in r.stderr


def test_budget_overrun_is_reported(guests_dir):
    r = armvirt("run", "--bare", str(guests_dir / "hello.elf"), "--max-insns", "20")
    assert r.returncode == 3
    assert b"budget exhausted after 20 instructions" in r.stderr


def test_same_output_as_qemu(guests_dir):
    qemu = require_tool("qemu-system-aarch64")
    q = subprocess.run([qemu, "-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-nographic",
                        "-kernel", str(guests_dir / "hello.elf")], capture_output=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    ours = armvirt("run", "--bare", str(guests_dir / "hello.elf"))
    assert q.stdout.replace(b"\r\n", b"\n") == ours.stdout == HELLO_TEXT


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("args, message", [
    (["run"], b"the following arguments are required: IMAGE"),
    (["run", "--bare"], b"the following arguments are required: IMAGE"),
    (["run", "x.elf", "--el", "2"], b"--el 2 needs --bare"),
    (["run", "--bare", "x.elf", "--hv", "split"], b"--hv, --vm and --config do not apply"),
    (["run", "x.elf", "--vm", "y.elf"], b"give IMAGE, or the VMs with --vm/--config"),
    (["run", "x.elf", "--hv", "xen"], b"invalid choice"),
    (["run", "--vm", "x.elf,colour=blue"], b"unknown key colour"),
    (["run", "x.elf", "--frobnicate"], b"unrecognized arguments: --frobnicate"),
    (["run", "x.elf", "--mem", "lots"], b"not a size"),
    (["run", "x.elf", "--trace", "everything"], b"unknown trace kind"),
    (["run", "x.elf", "--el", "3"], b"invalid choice"),
    (["bogus"], b"invalid choice"),
])
def test_usage_errors_are_one_line_exit_2(args, message):
    r = armvirt(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert b"Traceback" not in r.stderr


def test_missing_file(tmp_path):
    r = armvirt("run", str(tmp_path / "nope.elf"))
    assert r.returncode == 2 and b"Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_elf_for_another_machine(tmp_path):
    # An x86-64 ELF header: class 64, little-endian, e_machine = 62 (EM_X86_64).
    hdr = bytearray(64)
    hdr[0:4] = b"\x7fELF"
    hdr[4], hdr[5], hdr[6] = 2, 1, 1
    hdr[16:18] = (2).to_bytes(2, "little")
    hdr[18:20] = (62).to_bytes(2, "little")
    hdr[20:24] = (1).to_bytes(4, "little")
    hdr[52:54] = (64).to_bytes(2, "little")
    p = tmp_path / "x86.elf"
    p.write_bytes(bytes(hdr))
    r = armvirt("run", str(p))
    assert r.returncode == 2 and b"Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_image_too_large_for_ram(tmp_path):
    p = tmp_path / "big.bin"
    p.write_bytes(bytes(3 << 20))
    r = armvirt("run", "--bare", str(p), "--load-addr", "0x40000000", "--mem", "2M")
    assert r.returncode == 2 and b"Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_smp_above_maximum():
    r = armvirt("run", "--bare", "x.elf", "--smp", "9")
    assert r.returncode == 2 and b"between 1 and 8" in r.stderr
    r = armvirt("run", "x.elf", "--smp", "9")       # under the hypervisor: 9 vCPUs
    assert r.returncode == 2 and b"9 vCPUs; a VM has 1 to 8" in r.stderr


def test_garbage_gets_undefined_exceptions_not_a_crash(tmp_path):
    """Random words executed at EL1 with the vector table inside the garbage: every fault is
    architectural; the run ends on its budget, never with an emulator error."""
    import random
    rnd = random.Random(1234)
    p = tmp_path / "garbage.bin"
    p.write_bytes(bytes(rnd.getrandbits(8) for _ in range(64 << 10)))
    r = armvirt("run", "--bare", str(p), "--load-addr", "0x40000000", "--max-insns", "200000",
                "--trace", "unimp")
    assert r.returncode in (0, 1, 3), r.stderr
    assert b"Traceback" not in r.stderr and b"emulator error" not in r.stderr


def test_core_runs_without_jit(guests_dir):
    """NUMBA_DISABLE_JIT=1 runs the same core as plain Python (for tracebacks and pdb)."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    r = armvirt("run", "--bare", str(guests_dir / "hello.elf"), env=env, timeout=600)
    assert r.stdout == HELLO_TEXT, r.stderr.decode()[-2000:]
    assert r.returncode == 0


def test_dumpdtb_writes_the_boards_device_tree(tmp_path):
    import fdt
    out = tmp_path / "virt.dtb"
    r = armvirt("dumpdtb", str(out), "--smp", "2", "--mem", "256M", "--el", "2",
                "--append", "console=ttyAMA0")
    assert r.returncode == 0, r.stderr
    tree = fdt.parse_dtb(out.read_bytes())
    assert tree.get_property("bootargs", "/chosen").value == "console=ttyAMA0"
    assert tree.get_property("method", "/psci").value == "smc"
    assert len([n for n in tree.get_node("/cpus").nodes if n.name.startswith("cpu@")]) == 2
    reg = tree.get_property("reg", "/memory@40000000")
    assert list(reg) == [0, 0x4000_0000, 0, 256 << 20]
    dts = armvirt("dumpdtb", "-", "--dts")
    assert dts.returncode == 0 and b'compatible = "arm,gic-v3"' in dts.stdout


def test_dumpdtb_bad_input_is_one_line():
    r = armvirt("dumpdtb", "/nonexistent-dir/x.dtb")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- hypervisor
def test_hv_runs_a_vm_without_stage_2(guests_dir):
    for mode in ("split", "direct"):
        r = armvirt("run", "--hv", mode, "--vm", f"{guests_dir / 'hello.elf'},stage2=off,mem=8M",
                    "--exit-stats")
        assert r.returncode == 0, r.stderr
        assert r.stdout == HELLO_TEXT
        err = r.stderr.decode()
        assert f"[hv] armvirt hypervisor ({mode}:" in err
        assert "[hv] VM vm0 powered off\n" in err
        stats = [line.split() for line in err.splitlines() if line.startswith("vm0 ")]
        # vm, vcpu, pe, exits, then one column per class (abi.STAT_NAMES, hvc first): one HVC
        assert stats == [["vm0", "0", "0", "1", "1"] + ["0"] * (len(STAT_NAMES) - 1)]


def test_hv_config_file(guests_dir, tmp_path):
    cfg = tmp_path / "vms.toml"
    cfg.write_text(f"""
hv = "direct"
[[vm]]
name = "hello"
image = "{guests_dir / 'hello.elf'}"
mem = "8M"
stage2 = false
pin = [0]
[[vm]]
name = "fuzz"
image = "{guests_dir / 'hvc-fuzz.elf'}"
mem = "8M"
stage2 = false
pin = [0]
""")
    r = armvirt("run", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    # Both on PE 0 and without stage 2 (their UART writes are not tagged): the fuzz guest
    # runs first, hello runs to the end during its first hypercall, then the fuzz finishes.
    assert r.stdout.decode() == ("Hello from armvirt!\n"
                                 "hvc-fuzz: 3000 hypercalls (229 destructive ones skipped), "
                                 "0 unexpected results\n")
    assert b"direct: exits handled at EL2), 2 VM(s) on 1 PE(s)" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--vm", "{hello},mem=64M", "--vm", "{hello},mem=64M", "--mem", "100M"],
     b"the VMs need 130 MiB of RAM"),
    (["--vm", "{hello},base=0x44000000", "--vm", "{hello},base=0x46000000"], b"overlaps VM vm0"),
    (["--vm", "{big},mem=2M,kind=raw"], b"does not fit in RAM"),
    (["--vm", "{big},mem=8M"], b"neither an AArch64 ELF file nor an arm64 Linux Image"),
    (["--vm", "{hello},vcpus=2,pin=0:1", "--smp", "1"], b"the board has 1 PE"),
    (["--vm", "{hello},pin=0:1"], b"2 pinned PEs for 1 vCPUs"),
    (["--vm", "{hello},vcpus=two"], b"vcpus: not an integer"),
    (["--config", "{nope}"], b"No such file"),
])
def test_hv_bad_vm_descriptions_are_one_line(guests_dir, tmp_path, args, message):
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(3 << 20))
    args = [a.format(hello=guests_dir / "hello.elf", big=big, nope=tmp_path / "nope.toml")
            for a in args]
    r = armvirt("run", *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and b"Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_hv_hello_with_stage2_same_as_qemu(guests_dir):
    """The default: hello as a guest of the split hypervisor, its UART a virtual PL011."""
    r = armvirt("run", str(guests_dir / "hello.elf"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == HELLO_TEXT
    qemu = require_tool("qemu-system-aarch64")
    q = subprocess.run([qemu, "-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-nographic",
                        "-kernel", str(guests_dir / "hello.elf")], capture_output=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert q.stdout.replace(b"\r\n", b"\n") == r.stdout


def test_hv_two_vms_prefixed_or_to_files(guests_dir, tmp_path):
    log = tmp_path / "second.log"
    r = armvirt("run", "--vm", f"{guests_dir / 'hello.elf'},name=first",
                "--vm", f"{guests_dir / 'hello.elf'},name=second,output={log}")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"[first] " + HELLO_TEXT
    assert log.read_bytes() == HELLO_TEXT


def test_debug_a_guest_under_the_hypervisor(guests_dir):
    """armvirt debug --hv starts at the firmware's entry at EL2 with its symbols; a breakpoint
    scoped to EL1 stops in the guest, after the world switch."""
    r = armvirt("debug", str(guests_dir / "hello.elf"), "--hv", "split",
                "-ex", "break __guest_enter", "-ex", "continue", "-ex", "bt",
                "-ex", "delete", "-ex", "break *0x40000010 el 1", "-ex", "continue",
                "-ex", "p/c $x3", "-ex", "info el", "-ex", "vcpu")
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert "as a guest of the split hypervisor" in out and "PE0 at EL2" in out
    assert "Breakpoint 1, 0x" in out and "<__guest_enter> at firmware/hyp/switch.S" in out
    assert "__kvm_vcpu_run" in out                      # the backtrace through the EL2 part
    assert "= 72 'H'" in out                            # the guest, about to print its 'H'
    # The guest's IPA 0x4000_0010 is also firmware code at PA 0x4000_0010: under stage 2 the
    # debugger names the guest's line, not the hypervisor's.
    assert "Breakpoint 2, 0x40000010 <_start+16> at guests/hello.S:" in out
    assert "PE0: EL1h" in out and "HCR_EL2.VM = 1" in out
    # vcpu: the hardware's view and the firmware's own records (VMIDs start at 1)
    assert "PE0: EL1 guest, stage 2 on, VMID 1, VMPIDR 0x80000000; firmware: vCPU 0 of VM " \
           "'vm0' (VMID 1)" in out


@pytest.mark.parametrize("hv", [[], ["--bare"]])
def test_initrd_bad_inputs_are_one_line(guests_dir, tmp_path, hv):
    """--initrd: a missing file, or an initrd for an image that is not a Linux Image."""
    r = armvirt("run", *hv, "--initrd", str(tmp_path / "absent"), str(guests_dir / "hello.elf"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    rd = tmp_path / "rd.cpio"
    rd.write_bytes(b"070701")
    r = armvirt("run", *hv, "--initrd", str(rd), str(guests_dir / "hello.elf"))
    assert r.returncode == 2 and b"only to an arm64 Linux Image" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# A raw image that prints '.' forever, with a busy loop of ~130 K instructions in between:
#   movz x1, #0x900, lsl #16; 1: movz w2, #'.'; strb w2, [x1]; movz x3, #2, lsl #16
#   2: subs x3, x3, #1; b.ne 2b; b 1b
DOTS_FOREVER = [0xD2A12001, 0x528005C2, 0x39000022, 0xD2A00043, 0xF1000463, 0x54FFFFE1,
                0x17FFFFFB]


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_output_is_live_and_a_signal_stops_a_spinning_guest(tmp_path, sig, status):
    """The guest's output arrives while it runs (not when 4 KiB have collected or at the end),
    and SIGINT/SIGTERM stop a guest that never returns, with everything it printed flushed."""
    img = tmp_path / "dots.bin"
    img.write_bytes(b"".join(w.to_bytes(4, "little") for w in DOTS_FOREVER))
    p = subprocess.Popen([sys.executable, "-m", "armvirt.cli", "run", "--bare",
                          "--load-addr", "0x40000000", str(img)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = p.stdout.read(3)            # blocks until the guest's first dots arrive
        assert first == b"..."
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == status, err
    assert set(out) <= {ord(".")} and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("args", [["--dtb", "/nonexistent.dtb"], ["--dtb", "README.md"],
                                  ["--rtc", "yesterday"], ["--rtc", "now", "--hv", "split"]])
def test_board_option_bad_inputs_are_one_line(guests_dir, args):
    bare = [] if "--hv" in args else ["--bare"]
    r = armvirt("run", *bare, *args, str(guests_dir / "hello.elf"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
