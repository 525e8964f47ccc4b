/*
 * A C guest built with -O2: what every compiled program does with FP/SIMD.
 *
 * String functions written the way a libc writes them (the compiler vectorises their loops),
 * floating-point formatting done with double arithmetic (multiplications, divisions,
 * conversions to and from integers, rounding), a vectorised integer loop and a float loop.
 * It prints the same on armvirt as on qemu-system-aarch64 -M virt (tests/test_fpsimd_c.py).
 * Runs at EL1 (or EL2) with the MMU off, on the PL011 of the virt board; no libc: the start-up
 * code is guests/include/crt0.S, which enables FP/SIMD.
 */
#include <stddef.h>
#include <stdint.h>

#define UART_DR ((volatile uint32_t *)(uintptr_t)UART_BASE)           /* PL011 UARTDR */
#define UART_FR ((volatile uint32_t *)(uintptr_t)(UART_BASE + 0x18))  /* UARTFR */

/* The compiler may turn loops into calls to these: they must exist, and they are written
 * so that -O2 vectorises them. */
void *memset(void *d, int c, size_t n)
{
    unsigned char *p = d;
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)c;
    return d;
}

void *memcpy(void *restrict d, const void *restrict s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    for (size_t i = 0; i < n; i++)
        dp[i] = sp[i];
    return d;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] - y[i];
    return 0;
}

static void putc_(char c)
{
    while (*UART_FR & (1 << 5))   /* TXFF */
        ;
    *UART_DR = (uint32_t)c;
}

static void puts_(const char *s)
{
    while (*s)
        putc_(*s++);
}

static void put_u64(uint64_t v, unsigned base, int width)
{
    char buf[24];
    int n = 0;
    do {
        buf[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n < width)
        buf[n++] = '0';
    while (n)
        putc_(buf[--n]);
}

static void put_i64(int64_t v)
{
    if (v < 0) {
        putc_('-');
        put_u64((uint64_t)0 - (uint64_t)v, 10, 1);
    } else {
        put_u64((uint64_t)v, 10, 1);
    }
}

/* %.Nf: round half away from zero at N decimals, as a formatting routine without a bignum
 * would; exercises FMUL, FRINTA, FCVTZU, FSUB and friends. */
static void put_fixed(double x, int decimals)
{
    if (x != x) {
        puts_("nan");
        return;
    }
    if (x < 0) {
        putc_('-');
        x = -x;
    }
    if (x > 1e18) {
        puts_("inf");
        return;
    }
    double scale = 1.0;
    for (int i = 0; i < decimals; i++)
        scale *= 10.0;
    double r = __builtin_round(x * scale);
    uint64_t whole = (uint64_t)(r / scale);
    uint64_t frac = (uint64_t)(r - (double)whole * scale);
    put_u64(whole, 10, 1);
    if (decimals) {
        putc_('.');
        put_u64(frac, 10, decimals);
    }
}

/* %e with 6 digits: normalise by powers of ten (FDIV, FMUL, compares). */
static void put_exp(double x)
{
    if (x == 0) {
        puts_("0.000000e+00");
        return;
    }
    if (x < 0) {
        putc_('-');
        x = -x;
    }
    int e = 0;
    while (x >= 10.0) {
        x /= 10.0;
        e++;
    }
    while (x < 1.0) {
        x *= 10.0;
        e--;
    }
    put_fixed(x, 6);
    putc_('e');
    putc_(e < 0 ? '-' : '+');
    put_u64((uint64_t)(e < 0 ? -e : e), 10, 2);
}

static uint32_t lcg = 12345;
static uint32_t rnd(void)
{
    lcg = lcg * 1103515245u + 12345u;
    return lcg >> 8;
}

int32_t ia[1024], ib[1024], ic[1024];
float fa[256], fb[256];
unsigned char text[512], copy[512];

int main(void)
{
    puts_("fpsimd demo\n");

    /* strings: memset/memcpy/strlen/memcmp over buffers of odd sizes */
    memset(text, 'a', sizeof text - 1);
    text[sizeof text - 1] = 0;
    for (int i = 0; i < 26; i++)
        text[i * 17 % 500] = (unsigned char)('a' + i);
    memcpy(copy, text, sizeof text);
    puts_("strlen ");
    put_u64(strlen((char *)copy), 10, 1);
    puts_(" memcmp ");
    put_i64(memcmp(copy, text, sizeof text));
    copy[300] ^= 1;
    puts_(" ");
    put_i64(memcmp(copy, text, sizeof text) > 0 ? 1 : -1);
    putc_('\n');

    /* a vectorised integer loop: c = a * 3 + b, then a reduction and a max */
    for (int i = 0; i < 1024; i++) {
        ia[i] = (int32_t)(rnd() % 2001) - 1000;
        ib[i] = (int32_t)(rnd() % 65536);
    }
    for (int i = 0; i < 1024; i++)
        ic[i] = ia[i] * 3 + ib[i];
    int64_t sum = 0;
    int32_t mx = ic[0];
    for (int i = 0; i < 1024; i++) {
        sum += ic[i];
        mx = ic[i] > mx ? ic[i] : mx;
    }
    puts_("int sum ");
    put_i64(sum);
    puts_(" max ");
    put_i64(mx);
    putc_('\n');

    /* a float loop and formatting */
    for (int i = 0; i < 256; i++) {
        fa[i] = (float)i * 0.25f - 10.0f;
        fb[i] = 1.0f / (float)(i + 1);
    }
    float dot = 0;
    for (int i = 0; i < 256; i++)
        dot += fa[i] * fb[i];
    puts_("dot ");
    put_fixed(dot, 5);
    putc_('\n');

    double pi = 0;
    for (int k = 0; k < 100000; k++)
        pi += (k & 1 ? -4.0 : 4.0) / (2 * k + 1);
    puts_("pi ");
    put_fixed(pi, 8);
    puts_(" sqrt2 ");
    put_fixed(__builtin_sqrt(2.0), 12);
    puts_(" e ");
    put_exp(1.0 / 3.0e-7);
    putc_('\n');

    double h = 0;
    for (int n = 1; n <= 1000; n++)
        h += 1.0 / n;
    puts_("harmonic ");
    put_exp(h);
    puts_(" int ");
    put_i64((int64_t)(h * -1000.0));
    puts_(" u ");
    put_u64((uint64_t)(float)(h * 1e9), 16, 1);
    putc_('\n');
    puts_("done\n");
    return 0;
}
