/* Call the algorithm the grokking transformer learned, from C.
 *
 *   nnc examples/grokking/modadd.pt2 -o build/modadd.so
 *   cc -O2 -Ibuild examples/grokking/main.c build/modadd.so -o build/modadd && build/modadd 100 50
 *
 * Prints modadd(a, b) for the pair on the command line, then checks all 12,769 pairs against
 * (a + b) % 113 and prints how many agree: modadd() from the library, and modadd_inline(), the
 * closed form the header defines for C code to compile into its own loops (no call).
 */
#include <stdio.h>
#include <stdlib.h>

#include "modadd.h"

int main(int argc, char **argv) {
    int64_t a = argc > 2 ? atoll(argv[1]) : 100, b = argc > 2 ? atoll(argv[2]) : 50;
    printf("modadd(%lld, %lld) = %lld\n", (long long)a, (long long)b, (long long)modadd(a, b));
    int agree = 0, inlined = 0;
    for (int64_t x = 0; x < 113; x++)
        for (int64_t y = 0; y < 113; y++) {
            agree += modadd(x, y) == (x + y) % 113;
            inlined += modadd_inline(x, y) == (x + y) % 113;
        }
    printf("agrees with (a + b) %% 113 on %d/12769 pairs (modadd_inline: %d/12769)\n", agree,
           inlined);
    return agree == 12769 && inlined == 12769 ? 0 : 1;
}
