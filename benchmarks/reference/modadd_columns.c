/* Hand-written column loops of (a + b) mod 113 with the signature of modadd_batch_i64/_i32: the
 * limits the typed column entry modadd_batch_i32 is held to (issue 7). Compiled on their own with
 * cc -O3 -march=native; restrict, as the generated entries promise no aliasing too. */
#include <stdint.h>

/* What one writes without knowing the range: int64 lanes and a division by 113. */
int ref_modadd_mod_i64(int64_t n, const int64_t *restrict a, const int64_t *restrict b,
                       int64_t *restrict out) {
    if (n < 0) return -1;
    for (int64_t i = 0; i < n; i++) out[i] = (a[i] + b[i]) % 113;
    return 0;
}

/* What one writes knowing a, b in 0..112: int32 lanes and one compare-subtract. */
int ref_modadd_cmpsub_i32(int64_t n, const int32_t *restrict a, const int32_t *restrict b,
                          int32_t *restrict out) {
    if (n < 0) return -1;
    for (int64_t i = 0; i < n; i++) {
        int32_t s = a[i] + b[i];
        out[i] = s >= 113 ? s - 113 : s;
    }
    return 0;
}
