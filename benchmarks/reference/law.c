/* Hand-written x0 * x1 / x2^2 with the nnc C ABI of law.so, prefix ref_law: the limit the law
 * MLP's artifact is measured against (it computes the law itself, not the network's fit). */
#include <stdint.h>

double ref_law(double x0, double x1, double x2) { return x0 * x1 / (x2 * x2); }

int ref_law_eval(const double *x, double *y) {
    y[0] = ref_law(x[0], x[1], x[2]);
    return 0;
}

int ref_law_eval_batch(int64_t n, const double *x, double *y) {
    if (n < 0) return -1;
    for (int64_t i = 0; i < n; i++) y[i] = ref_law(x[3 * i], x[3 * i + 1], x[3 * i + 2]);
    return 0;
}
