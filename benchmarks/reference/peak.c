/* What one core of this machine can do, measured rather than read from /proc/cpuinfo (which
 * misreports clocks in VMs): multiply-adds per ns on the widest vectors the compiler targets with
 * -march=native, float and double, and the read bandwidth of a buffer that fits in L2 but not in
 * L1, and of one of a workload's weight bytes. Built with cc -O3 -march=native by benchmarks/peak.py; each entry returns ns per call. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef BENCH_CLOCK /* CLOCK_THREAD_CPUTIME_ID leaves out other processes' turns */
#define BENCH_CLOCK CLOCK_MONOTONIC
#endif

#if defined(__AVX512F__)
#define VECTOR_BYTES 64
#elif defined(__AVX__)
#define VECTOR_BYTES 32
#else
#define VECTOR_BYTES 16
#endif
#define CHAINS 16      /* independent accumulators (a0..a15): more than latency x ports */
#define STEPS 4096     /* multiply-add steps per chain per call */
#define READ_CHAINS 8  /* independent sums in the bandwidth loop */

typedef float vfloat __attribute__((vector_size(VECTOR_BYTES)));
typedef double vdouble __attribute__((vector_size(VECTOR_BYTES)));

static double now_ns(void) {
    struct timespec t;
    clock_gettime(BENCH_CLOCK, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int peak_vector_bytes(void) { return VECTOR_BYTES; }
int64_t peak_fma_f32_per_call(void) { return (int64_t)CHAINS * STEPS * (VECTOR_BYTES / 4); }
int64_t peak_fma_f64_per_call(void) { return (int64_t)CHAINS * STEPS * (VECTOR_BYTES / 8); }

/* CHAINS independent a = a * y + x chains in named registers; the empty asm keeps each one
 * opaque, so the compiler can neither merge equal chains nor drop any. Contracted to FMA by
 * -ffp-contract=fast (GCC's default for GNU C) where the target has it. */
#define STEP(a)         \
    a = a * y + x;      \
    __asm__ volatile("" : "+v"(a));
#define EACH(do)                                                                     \
    do(a0) do(a1) do(a2) do(a3) do(a4) do(a5) do(a6) do(a7) do(a8) do(a9) do(a10) \
        do(a11) do(a12) do(a13) do(a14) do(a15)
#define FMA_LOOP(vtype, stype, name)                                                          \
    double name(int64_t calls) {                                                              \
        vtype x = (vtype){0} + (stype)1e-3, y = (vtype){0} + (stype)0.999;                    \
        vtype a0 = x + 0, a1 = x + 1, a2 = x + 2, a3 = x + 3, a4 = x + 4, a5 = x + 5,         \
              a6 = x + 6, a7 = x + 7, a8 = x + 8, a9 = x + 9, a10 = x + 10, a11 = x + 11,     \
              a12 = x + 12, a13 = x + 13, a14 = x + 14, a15 = x + 15;                         \
        double start = now_ns();                                                              \
        for (int64_t call = 0; call < calls; call++)                                          \
            for (int s = 0; s < STEPS; s++) {                                                 \
                EACH(STEP)                                                                    \
            }                                                                                 \
        double elapsed = now_ns() - start;                                                    \
        vtype total = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 +     \
                      a13 + a14 + a15;                                                        \
        volatile double sink = (double)total[0];                                              \
        (void)sink;                                                                           \
        return elapsed / (double)calls;                                                       \
    }
FMA_LOOP(vfloat, float, peak_fma_f32)
FMA_LOOP(vdouble, double, peak_fma_f64)

/* A buffer the bandwidth loop reads: one that fits in L2 but not in L1 (the L2 bound), and one of
 * a workload's weight bytes (what streaming its weights costs where they do not fit in L2). */
typedef struct {
    vfloat *data;
    int64_t vectors;
} read_buffer;

static read_buffer l2_buffer, weights_buffer;

static int setup(read_buffer *buffer, int64_t bytes) {
    free(buffer->data);
    buffer->vectors = bytes / VECTOR_BYTES / READ_CHAINS * READ_CHAINS;
    if (buffer->vectors < READ_CHAINS) buffer->vectors = READ_CHAINS;
    buffer->data = aligned_alloc(64, (size_t)buffer->vectors * VECTOR_BYTES);
    if (buffer->data == NULL) return -1;
    memset(buffer->data, 0, (size_t)buffer->vectors * VECTOR_BYTES);
    return 0;
}

/* Read the whole buffer once per call, summing into READ_CHAINS vectors. */
static double read_all(const read_buffer *buffer, int64_t calls) {
    vfloat sum[READ_CHAINS] = {{0}};
    const vfloat *data = buffer->data;
    double start = now_ns();
    for (int64_t call = 0; call < calls; call++)
        for (int64_t i = 0; i < buffer->vectors; i += READ_CHAINS) {
            _Pragma("GCC unroll 8") for (int c = 0; c < READ_CHAINS; c++) sum[c] += data[i + c];
        }
    double elapsed = now_ns() - start;
    vfloat total = (vfloat){0};
    for (int c = 0; c < READ_CHAINS; c++) total += sum[c];
    volatile float sink = total[0];
    (void)sink;
    return elapsed / (double)calls;
}

/* Allocate and fill each buffer (0 on success); the bytes each call of its loop reads. */
int peak_read_setup(int64_t bytes) { return setup(&l2_buffer, bytes); }
int peak_read_weights_setup(int64_t bytes) { return setup(&weights_buffer, bytes); }
int64_t peak_read_bytes_per_call(void) { return l2_buffer.vectors * VECTOR_BYTES; }
int64_t peak_read_weights_bytes_per_call(void) { return weights_buffer.vectors * VECTOR_BYTES; }

double peak_read(int64_t calls) { return read_all(&l2_buffer, calls); }
double peak_read_weights(int64_t calls) { return read_all(&weights_buffer, calls); }
