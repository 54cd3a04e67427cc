/* Run an automaton nnc extracted, from C: stream a string token by token, or time it.
 *
 *   nnc examples/automata/has1011.pt2 -o has1011.so
 *   cc -O2 -I. -DLANG=has1011 -DLANG_START=HAS1011_START -DHEADER='"has1011.h"' \
 *       examples/automata/main.c ./has1011.so -o has1011 -Wl,-rpath,.
 *   ./has1011 0110110      # the state and decision after each token, then the whole string
 *   ./has1011              # tokens per second: whole strings and one token at a time
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include HEADER

#define JOIN(a, b) a##b
#define ENTRY(lang, what) JOIN(lang, what)
#define STRING ENTRY(LANG, _string)
#define STEP ENTRY(LANG, _step)
#define DECISION ENTRY(LANG, _decision)

enum { TOKENS = 10000000, REPEATS = 5 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void stream(const char *text) {
    int64_t n = (int64_t)strlen(text);
    int64_t *tokens = malloc(sizeof *tokens * (n ? n : 1));
    int32_t state = LANG_START;
    for (int64_t i = 0; i < n; i++) {
        tokens[i] = text[i] - '0';
        state = STEP(state, tokens[i]);
        printf("%c -> state %d, decision %lld\n", text[i], state, (long long)DECISION(state));
    }
    printf("whole string: %lld\n", (long long)STRING(n, tokens));
    free(tokens);
}

static void benchmark(void) {
    int64_t *tokens = malloc(sizeof *tokens * TOKENS);
    uint64_t x = 88172645463325252ull;  /* xorshift64: the same tokens every run */
    for (int64_t i = 0; i < TOKENS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        tokens[i] = (int64_t)(x >> 63);
    }
    double whole[REPEATS], streamed[REPEATS];
    long long check = 0;
    for (int r = 0; r < REPEATS; r++) {
        double t = now();
        check += STRING(TOKENS, tokens);
        whole[r] = TOKENS / (now() - t);
        t = now();
        int32_t state = LANG_START;
        for (int64_t i = 0; i < TOKENS; i++) state = STEP(state, tokens[i]);
        check += DECISION(state);
        streamed[r] = TOKENS / (now() - t);
    }
    qsort(whole, REPEATS, sizeof *whole, by_value);
    qsort(streamed, REPEATS, sizeof *streamed, by_value);
    printf("whole string: %.0f tokens/s\none token at a time: %.0f tokens/s\n(median of %d runs "
           "over %d tokens; checksum %lld)\n", whole[REPEATS / 2], streamed[REPEATS / 2], REPEATS,
           TOKENS, check);
    free(tokens);
}

int main(int argc, char **argv) {
    if (argc > 1)
        stream(argv[1]);
    else
        benchmark();
    return 0;
}
