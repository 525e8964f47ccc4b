"""Console input (armvirt/console.py, Machine.uart_source) and the hypervisor console's rate limit.

What is typed reaches the guest's PL011: from a pipe as it is, from a terminal in raw mode with
QEMU's escapes (Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A), the terminal's settings restored
however the run ends. The interactive tests run armvirt on a pseudo-terminal (python's pty),
as a person at a terminal would: a polling echo guest, U-Boot's prompt, a busybox shell.
"""
from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import termios
import time

import pytest

from armvirt import memmap
from armvirt.build import assemble
from armvirt.console import ConsoleQuit, StdinConsole
from armvirt.hv.console import ConsoleDemux
from conftest import ROOT

# Says "ready", then echoes what it receives until 'q' and powers off (PSCI SYSTEM_OFF over
# HVC, at EL1).
ECHO = f"""
    ldr     x20, ={memmap.UART_BASE:#x}
    adr     x2, ready
2:  ldrb    w0, [x2], #1
    cbz     w0, 1f
    str     w0, [x20]
    b       2b
1:  ldr     w1, [x20, #0x18]        // UARTFR
    tbnz    w1, #4, 1b              // RXFE: nothing received yet
    ldr     w0, [x20]               // UARTDR
    and     w0, w0, #0xff
    str     w0, [x20]
    cmp     w0, #'q'
    b.ne    1b
    ldr     w0, =0x84000008
    hvc     #0
    b       .
ready:
    .asciz  "ready\\n"
    .balign 4
    .ltorg
"""


@pytest.fixture(scope="module")
def echo_image(tmp_path_factory):
    path = tmp_path_factory.mktemp("console") / "echo.bin"
    path.write_bytes(assemble(ECHO, memmap.RAM_BASE).code)
    return path


def run_args(image) -> list[str]:
    return [sys.executable, "-m", "armvirt.cli", "run", "--bare", str(image), "--load-addr",
            hex(memmap.RAM_BASE)]


@pytest.mark.parametrize("where", [["--bare"], ["--hv", "split"], ["--hv", "direct"]])
def test_input_from_a_pipe_reaches_the_guest(echo_image, where):
    """On the bare board, and as a guest polling its virtual PL011 (UARTFR.RXFE and UARTDR read
    through to the board's UART by the hypervisor)."""
    args = run_args(echo_image)
    args[args.index("--bare"):args.index("--bare") + 1] = where
    r = subprocess.run(args, input=b"hello, guest\x01x\nq", capture_output=True,
                       timeout=600, cwd=ROOT)
    assert r.stdout == b"ready\nhello, guest\x01x\nq"      # no escapes on a pipe
    assert r.returncode == 0, r.stderr


class PtySession:
    """armvirt with a pseudo-terminal as its stdin and stdout (stderr captured apart)."""

    def __init__(self, args: list[str], **kw):
        self.master, slave = pty.openpty()
        self.saved = termios.tcgetattr(slave)
        self.slave = slave
        self.p = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                                  cwd=ROOT, **kw)
        self.out = b""

    def expect(self, pattern: bytes, timeout: float = 600) -> bytes:
        end = time.monotonic() + timeout
        while pattern not in self.out:
            left = end - time.monotonic()
            assert left > 0 and self.p.poll() is None, (pattern, self.out[-2000:])
            if select.select([self.master], [], [], min(left, 1))[0]:
                try:
                    self.out += os.read(self.master, 65536)
                except OSError:
                    break
        return self.out

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def finish(self, timeout: float = 120) -> tuple[int, bytes]:
        deadline = time.monotonic() + timeout
        while self.p.poll() is None and time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.2)[0]:
                try:
                    self.out += os.read(self.master, 65536)
                except OSError:
                    pass
        if self.p.poll() is None:
            self.p.kill()
        err = self.p.communicate()[1]
        return self.p.returncode, err

    def restored(self) -> bool:
        return termios.tcgetattr(self.slave) == self.saved

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


def test_terminal_raw_mode_escapes_and_restore(echo_image):
    s = PtySession(run_args(echo_image))
    try:
        s.expect(b"ready")
        s.send(b"abc")
        s.expect(b"abc")
        assert not s.restored()                     # raw mode while the guest runs
        s.send(b"\x01\x01\x03")                     # Ctrl-A Ctrl-A -> Ctrl-A; Ctrl-C -> guest
        s.expect(b"abc\x01\x03")
        s.send(b"\x01x")                            # quit
        code, err = s.finish()
        assert code == 0, err
        assert b"quit (Ctrl-A x)" in err
        assert s.restored()
        # Ended by the guest (q: power off) instead: restored too.
        s2 = PtySession(run_args(echo_image))
        s2.expect(b"ready")
        s2.send(b"q")
        code, err = s2.finish()
        assert code == 0 and s2.restored(), err
        s2.close()
        # Ended by SIGTERM: status 143, restored.
        s3 = PtySession(run_args(echo_image))
        s3.expect(b"ready")
        s3.send(b"z")
        s3.expect(b"z")
        s3.p.terminate()
        code, err = s3.finish()
        assert code == 143 and s3.restored(), err
        s3.close()
    finally:
        s.close()


def test_escape_handling_unit():
    master, slave = pty.openpty()
    try:
        with StdinConsole(slave, notice=lambda data: None) as con:
            os.write(master, b"ab\x01\x01c\x01zd")
            time.sleep(0.1)
            assert con.read(1) == b"ab\x01cd"       # C-a C-a is C-a; C-a z is dropped
            os.write(master, b"e\x01x")
            time.sleep(0.1)
            with pytest.raises(ConsoleQuit):
                con.read(1)
        assert con.read(0) == b""
    finally:
        os.close(master)
        os.close(slave)


def test_hv_messages_are_rate_limited():
    got: dict[str, list[bytes]] = {"hv": [], "vm0": [], "untagged": []}
    demux = ConsoleDemux({"hv": got["hv"].append, "vm0": got["vm0"].append},
                         got["untagged"].append)
    line = b"[hv] vm0: data abort at 0x1000 injected\n"
    demux.feed(line * 1000 + b"[vm0] still here\n" + line * 2)
    demux.feed(b"[hv] something else\n" + line)
    demux.flush()
    assert got["hv"] == [b"vm0: data abort at 0x1000 injected\n",
                         b"(last message repeated 1001 times)\n",
                         b"something else\n", b"vm0: data abort at 0x1000 injected\n"]
    assert got["vm0"] == [b"still here\n"]


def test_uboot_prompt_on_a_terminal():
    import linux
    uboot = linux.uboot_qemu_arm64()
    s = PtySession([sys.executable, "-m", "armvirt.cli", "run", "--bare", "--bios", str(uboot)])
    try:
        s.expect(b"Hit any key to stop autoboot")
        s.send(b" ")
        s.expect(b"=> ")
        s.send(b"version\r")
        out = s.expect(b"aarch64-linux-gnu-gcc")
        assert re.search(rb"U-Boot 2023\.01\S* \(", out.split(b"version", 1)[1])
        s.expect(b"=> ", timeout=60)
        s.send(b"poweroff\r")
        code, err = s.finish()
        assert code == 0, err
        assert s.restored()
    finally:
        s.close()


@pytest.mark.parametrize("mode", ["bare", "split", "direct"])
def test_busybox_shell_on_a_terminal(tmp_path, mode):
    """Linux with a busybox initramfs whose /init is a shell on the console: a command typed
    is answered — on the bare board, and as a guest of the hypervisor, where the board's UART
    receives what is typed and the firmware forwards it to the VM's PL011 and its receive
    interrupt to the VM's GIC (firmware/host/mmio.S). (Busybox needs FP/SIMD.)"""
    import linux
    kernel = linux.kernel_image()
    init = b"#!/bin/busybox sh\n/bin/busybox --install -s /bin\necho SHELL-READY\nexec sh\n"
    rd = linux.initramfs({"/init": init, "/bin/busybox": linux.busybox().read_bytes(),
                          "/dev/console": "chr:5:1", "/proc": "dir"}, tmp_path / "rd.cpio")
    where = ["--bare"] if mode == "bare" else ["--hv", mode]
    s = PtySession([sys.executable, "-m", "armvirt.cli", "run", *where, "--mem", "512M",
                    "--initrd", str(rd), "--append",
                    "console=ttyAMA0 panic=-1 quiet cryptomgr.notests",
                    str(kernel)])
    try:
        s.expect(b"SHELL-READY", timeout=900)
        s.expect(b"# ", timeout=120)             # the prompt shows before anything is typed
        s.send(b"echo $((6 * 7)) armvirt\r")
        s.expect(b"42 armvirt", timeout=120)
        s.send(b"poweroff -f\r")
        code, err = s.finish(timeout=300)
        assert code == 0, err[-2000:]
        assert s.restored()
    finally:
        s.close()


# Prints "partial" (no newline) on the VM's PL011, then spins: the line stays in the
# hypervisor's buffer for the VM.
PARTIAL_THEN_SPIN = f"""
    ldr     x20, ={memmap.UART_BASE:#x}
    adr     x2, text
2:  ldrb    w0, [x2], #1
    cbz     w0, 1f
    str     w0, [x20]
    b       2b
1:  b       1b
text:
    .asciz  "partial"
    .balign 4
    .ltorg
"""


@pytest.mark.parametrize("hv", ["split", "direct"])
def test_interrupted_guest_keeps_its_unsent_line(tmp_path, hv):
    """A VM's console output goes out a line at a time; when the run is interrupted (SIGINT,
    status 130) what it printed of its current line is read from the hypervisor's buffer and
    written out, not lost."""
    import signal
    img = tmp_path / "partial.bin"
    img.write_bytes(assemble(PARTIAL_THEN_SPIN, memmap.RAM_BASE).code)
    p = subprocess.Popen([sys.executable, "-m", "armvirt.cli", "run", "--hv", hv, "--load-addr",
                          hex(memmap.RAM_BASE), str(img)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        banner = b""
        while b"armvirt hypervisor" not in banner:    # the firmware is up; the VM runs
            line = p.stderr.readline()
            assert line, banner
            banner += line
        time.sleep(2)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130, err
    assert out == b"partial", (out, err)


@pytest.fixture(scope="module")
def rx_irq_image(tmp_path_factory):
    from pathlib import Path
    src = Path(__file__).parent / "images" / "uart_rx_irq.S"
    path = tmp_path_factory.mktemp("rx") / "uart_rx_irq.bin"
    path.write_bytes(assemble(src.read_text(), memmap.RAM_BASE, filename=str(src)).code)
    return path


RX_INPUT = b"hello, world!q"


@pytest.fixture(scope="module")
def rx_irq_on_qemu(rx_irq_image):
    from conftest import require_tool
    qemu = require_tool("qemu-system-aarch64")
    r = subprocess.run([qemu, "-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-m", "128M",
                        "-nographic", "-no-user-config", "-nodefaults", "-serial", "stdio",
                        "-kernel", str(rx_irq_image)], input=RX_INPUT, capture_output=True,
                       timeout=120)
    return r.stdout.replace(b"\r\n", b"\n")


@pytest.mark.parametrize("where", [["--bare"], ["--hv", "split"], ["--hv", "direct"]])
def test_receive_interrupt_reaches_the_guest(rx_irq_image, rx_irq_on_qemu, where):
    """tests/images/uart_rx_irq.S reads the console by the PL011's receive interrupt through
    the GIC (as Linux does): on the bare board, and as a guest, where the hypervisor forwards the
    board's receive interrupt to the VM's virtual PL011 (UARTRIS/UARTMIS) and GIC. The same
    output as on QEMU (whose PL011 may raise one interrupt per byte; ours drains them at once).
    A pipe's input is read when the guest waits in WFI for it."""
    r = subprocess.run([sys.executable, "-m", "armvirt.cli", "run", *where, "--load-addr",
                        hex(memmap.RAM_BASE), str(rx_irq_image)], input=RX_INPUT,
                       capture_output=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ready\nhello, world!q\nfirst UARTMIS 0x10\n"
    assert r.stdout == rx_irq_on_qemu


@pytest.mark.parametrize("mode", ["split", "direct"])
def test_a_line_is_not_cut_when_another_vcpu_sleeps(mode):
    """A VM's partial line goes out when the VM waits (every vCPU blocked), not when one of its
    vCPUs sleeps in WFI while another is printing: guests/microbench.S's vCPU 1 waits for its
    IPI in WFI while vCPU 0 prints, which cut "microbench: virtual_ipi" after its first letter."""
    from armvirt.build import BUILD, build_guests
    from armvirt.hv.launch import HvConfig, VMConfig, launch
    image = BUILD / "guests" / "microbench.elf"
    if not image.exists():
        build_guests()
    out = bytearray()
    m, _ = launch(HvConfig([VMConfig(str(image), vcpus=2, pin=[0, 1])], mode=mode),
                  uart=out.extend, profile="cortex-a15")
    assert m.run(max_insns=200_000_000).reason == "system_off"
    lines = out.decode().splitlines()
    assert not [ln for ln in lines if "]~" in ln], lines
    assert sum(ln.startswith("[vm0] microbench: ") for ln in lines) == 7
