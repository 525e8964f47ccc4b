/* hello_c: a guest written in C. Prints on the PL011 and returns to the start-up code
 * (guests/include/crt0.S), which powers the machine off with PSCI SYSTEM_OFF.
 *
 * Built like every guest by `python -m armvirt.build guests` (zig cc -O2 -ffreestanding);
 * UART_BASE and the other board facts come as -D defines. */
#include <stdint.h>

#define UARTDR ((volatile uint32_t *)(uintptr_t)UART_BASE)   /* PL011 data register */

static void putc_uart(char c)
{
    *UARTDR = (uint8_t)c;
}

static void puts_uart(const char *s)
{
    while (*s)
        putc_uart(*s++);
}

static void putdec(uint64_t v)
{
    char buf[21];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        putc_uart(buf[--n]);
}

/* Something a compiler turns into real code: the first Fibonacci number above 10^12. */
static uint64_t fib_above(uint64_t limit)
{
    uint64_t a = 0, b = 1;
    while (a <= limit) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}

int main(void)
{
    uint64_t el;
    __asm__ volatile("mrs %0, CurrentEL" : "=r"(el));
    puts_uart("Hello from C on armvirt! (EL");
    putdec(el >> 2);
    puts_uart(")\nfirst Fibonacci number above 10^12: ");
    putdec(fib_above(1000000000000ULL));
    puts_uart("\n");
    return 0;
}
