"""Arm PrimeCell UART (PL011), as on QEMU's `virt` board at 0x0900_0000 (SPI 1).

Modelled in the core because console output is on the hot path of every guest: a transmit is a
byte appended to the ``S_UART_TX`` region of the machine state; when that buffer fills, the run
loop exits (EXIT_UART) so Python drains it to the host's stdout or a buffer. Received bytes come
from Python through the ``S_UART_RX`` ring. Register offsets and reset values follow the PL011 TRM (DDI 0183).
The combined interrupt output UARTINTR (RIS & IMSC != 0) drives SPI 1 (INTID 33) of the GIC.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt import memmap
from armvirt.devices.gic import gic_set_spi

DR = 0x000
RSR = 0x004
FR = 0x018
ILPR = 0x020
IBRD = 0x024
FBRD = 0x028
LCR_H = 0x02C
CR = 0x030
IFLS = 0x034
IMSC = 0x038
RIS = 0x03C
MIS = 0x040
ICR = 0x044
DMACR = 0x048

FR_RXFE = 1 << 4
FR_TXFF = 1 << 5
FR_TXFE = 1 << 7
INT_RX = 1 << 4
INT_TX = 1 << 5
CR_RESET = 0x300          # TXE | RXE
IFLS_RESET = 0x12
# PrimeCell identification (PL011 r1p5), as QEMU reports: PeriphID0..3 then CellID0..3
ID_BYTES = (0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1)


@njit(cache=True)
def pl011_reset(mach):
    mach[L.UART_CR] = CR_RESET
    mach[L.UART_IFLS] = IFLS_RESET
    mach[L.UART_LCR_H] = 0
    mach[L.UART_IBRD] = 0
    mach[L.UART_FBRD] = 0
    mach[L.UART_IMSC] = 0
    mach[L.UART_RIS] = INT_TX  # the (empty) transmit FIFO is below its trigger level
    mach[L.UART_DMACR] = 0
    mach[L.UART_ILPR] = 0


@njit(cache=True)
def pl011_update_irq(M):
    """Drive UARTINTR, the OR of the masked interrupt status, into the GIC."""
    mach = M[L.M_MACH]
    gic_set_spi(M, 32 + memmap.UART_SPI, (mach[L.UART_RIS] & mach[L.UART_IMSC]) != 0)


@njit(cache=True)
def _rx_empty(mach):
    return mach[L.UART_RX_HEAD] == mach[L.UART_RX_TAIL]


@njit(cache=True)
def pl011_read(c, M, off, size):
    mach = M[L.M_MACH]
    if off == DR:
        if _rx_empty(mach):
            return 0
        head = mach[L.UART_RX_HEAD]
        v = mach[L.S_UART_RX + head % L.UART_RX_CAP] & 0xFF
        mach[L.UART_RX_HEAD] = head + 1
        if _rx_empty(mach):
            mach[L.UART_RIS] &= ~INT_RX
            pl011_update_irq(M)
        return v
    if off == RSR:
        return 0
    if off == FR:
        fr = FR_TXFE  # transmission is instantaneous: the FIFO is always empty
        if _rx_empty(mach):
            fr |= FR_RXFE
        return fr
    if off == ILPR:
        return mach[L.UART_ILPR]
    if off == IBRD:
        return mach[L.UART_IBRD]
    if off == FBRD:
        return mach[L.UART_FBRD]
    if off == LCR_H:
        return mach[L.UART_LCR_H]
    if off == CR:
        return mach[L.UART_CR]
    if off == IFLS:
        return mach[L.UART_IFLS]
    if off == IMSC:
        return mach[L.UART_IMSC]
    if off == RIS:
        return mach[L.UART_RIS]
    if off == MIS:
        return mach[L.UART_RIS] & mach[L.UART_IMSC]
    if off == DMACR:
        return mach[L.UART_DMACR]
    if 0xFE0 <= off < 0x1000:
        return ID_BYTES[(off - 0xFE0) >> 2]
    return 0  # reserved offsets read as zero


@njit(cache=True)
def pl011_write(c, M, off, size, value):
    mach = M[L.M_MACH]
    if off == DR:
        n = mach[L.UART_TX_COUNT]
        mach[L.S_UART_TX + n] = value & 0xFF
        mach[L.UART_TX_COUNT] = n + 1
        if not mach[L.UART_RIS] & INT_TX:
            mach[L.UART_RIS] |= INT_TX  # the byte left at once: the FIFO is below its level
            pl011_update_irq(M)
        if n + 1 >= L.UART_TX_CAP and mach[L.EXIT_CODE] == L.EXIT_NONE:
            mach[L.EXIT_CODE] = L.EXIT_UART
            mach[L.EXIT_PE] = c[L.PE_INDEX]
            c[L.ATTN] = 1
    elif off == ILPR:
        mach[L.UART_ILPR] = value & 0xFF
    elif off == IBRD:
        mach[L.UART_IBRD] = value & 0xFFFF
    elif off == FBRD:
        mach[L.UART_FBRD] = value & 0x3F
    elif off == LCR_H:
        mach[L.UART_LCR_H] = value & 0xFF
    elif off == CR:
        mach[L.UART_CR] = value & 0xFFFF
    elif off == IFLS:
        mach[L.UART_IFLS] = value & 0x3F
    elif off == IMSC:
        mach[L.UART_IMSC] = value & 0x7FF
        pl011_update_irq(M)
    elif off == ICR:
        mach[L.UART_RIS] &= ~(value & 0x7FF)
        pl011_update_irq(M)
    elif off == DMACR:
        mach[L.UART_DMACR] = value & 0x7
    # RSR/ECR writes clear errors we never raise; other offsets are write-ignored.
