/* Hand-written (a + b) mod 113 with the nnc C ABI of modadd.so, prefix ref_modadd: the limit the
 * grokking workload's closed form is measured against. x holds [a, b, 113] per sample. */
#include <stdint.h>

int64_t ref_modadd(int64_t a, int64_t b) { return (a + b) % 113; }

int ref_modadd_eval(const double *x, double *y) {
    y[0] = (double)ref_modadd((int64_t)x[0], (int64_t)x[1]);
    return 0;
}

int ref_modadd_eval_batch(int64_t n, const double *x, double *y) {
    if (n < 0) return -1;
    for (int64_t i = 0; i < n; i++) y[i] = (double)ref_modadd((int64_t)x[3 * i], (int64_t)x[3 * i + 1]);
    return 0;
}
