/* Call the compiled network from C.
 *
 *   nnc examples/physics/model.pt2 -o build/algo.so
 *   cc -O2 -Ibuild examples/physics/main.c build/algo.so -o build/physics && build/physics 2 3 1.5
 *
 * Prints the network's force for each (x0, x1, x2) given on the command line (default: three
 * built-in points), through the scalar entry point and through algo_eval_batch; numbers are
 * printed exactly (17 significant digits), as the Rust and Python callers beside it print them.
 */
#include <stdio.h>
#include <stdlib.h>

#include "algo.h"

int main(int argc, char **argv) {
    double points[3][3] = {{1.0, 1.0, 1.0}, {2.0, 3.0, 1.5}, {1.5, 2.5, 2.75}};
    int n = 3;
    if (argc == 4) {
        for (int i = 0; i < 3; i++) points[0][i] = atof(argv[i + 1]);
        n = 1;
    }
    double forces[3];
    if (algo_eval_batch(n, &points[0][0], forces) != 0) {
        fprintf(stderr, "algo_eval_batch failed\n");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        double x0 = points[i][0], x1 = points[i][1], x2 = points[i][2];
        printf("x = (%g, %g, %g): network %.17g, scalar call %.17g, law %.17g\n", x0, x1, x2,
               forces[i], algo(x0, x1, x2), x0 * x1 / (x2 * x2));
    }
    return 0;
}
