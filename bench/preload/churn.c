/* A malloc/free loop for bench/preload_callgrind.sh: N pairs of 16..115
 * bytes, 64 blocks live, as a C program under the preload would make them. */
#include <stdlib.h>
#include <stdio.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    void *keep[64] = {0};
    unsigned long s = 0;
    for (long i = 0; i < n; i++) {
        size_t sz = 16 + (i * 7 % 100);
        void *p = malloc(sz);
        s += (unsigned long)p;
        int k = i & 63;
        free(keep[k]);
        keep[k] = p;
    }
    for (int k = 0; k < 64; k++) free(keep[k]);
    printf("%lu\n", s & 1);
    return 0;
}
