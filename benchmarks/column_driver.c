/* The timing loop of two-column entries, int NAME(int64_t n, const T *a, const T *b, T *out): nnc's
 * NAME_batch_i32 and the hand-written column loops alike, compiled with cc -O3 -march=native. The
 * entry arrives as a function pointer (the symbol's address, from ctypes): one indirect call per
 * batch, as through the PLT of a linked library. Timed inside with clock_gettime, so the figures
 * hold no Python or ctypes cost. */
#include <stdint.h>
#include <time.h>

#ifndef BENCH_CLOCK /* CLOCK_THREAD_CPUTIME_ID leaves out other processes' turns */
#define BENCH_CLOCK CLOCK_MONOTONIC
#endif

typedef int (*column_entry)(int64_t n, const void *a, const void *b, void *out);

static double now_ns(void) {
    struct timespec t;
    clock_gettime(BENCH_CLOCK, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* ns per call of entry(n, a, b, out), over `calls` calls. */
double bench_columns(column_entry entry, int64_t n, const void *a, const void *b, void *out,
                     int64_t calls) {
    double start = now_ns();
    for (int64_t i = 0; i < calls; i++) entry(n, a, b, out);
    return (now_ns() - start) / (double)calls;
}
