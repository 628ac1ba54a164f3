/*
 * two_objects: two objects built by `adjit build` in one program — the
 * Rosenbrock gradient and the spring simulation's loss — with no symbol
 * clash (each object's helpers are local; its entries carry its prefix).
 *
 *   adjit build ../programs/rosen.adj --grad --wrt x --size n=8 -o rosen.o --header rosen.h
 *   adjit build ../programs/spring.adj --size n=32 -o spring.o --header spring.h
 *   cc two_objects.c rosen.o spring.o -I. -lm -o two_objects && ./two_objects
 *
 * Prints the rosen gradient at x[j] = 0.5 + j/8, then the spring loss for
 * k[j] = 0.5 + (7j mod 11)/10, v0[j] = (5j mod 7)/10 - 0.3,
 * x0[j] = j + (3j mod 5)/20, target[j] = 1.1 j, dt = 0.01.
 */
#include "rosen.h"
#include "spring.h"

#include <stdio.h>
#include <stdlib.h>

static void *workspace(size_t size) {
    size_t rounded = (size + 63) / 64 * 64;
    return aligned_alloc(64, rounded ? rounded : 64);
}

int main(void) {
    enum { N = ROSEN_GRAD_IN0_COUNT, M = SPRING_IN1_COUNT };
    double x[N], g[N];
    for (int j = 0; j < N; j++) x[j] = 0.5 + j / 8.0;
    void *ws = workspace(ROSEN_GRAD_WORKSPACE_SIZE);
    const void *rin[] = {x};
    void *rout[] = {g};
    rosen_grad(rin, rout, ws);
    free(ws);
    for (int j = 0; j < N; j++) printf("%.17g\n", g[j]);

    double k[M - 1], v0[M], x0[M], target[M], dt = 0.01, loss;
    for (int j = 0; j < M - 1; j++) k[j] = 0.5 + ((7 * j) % 11) / 10.0;
    for (int j = 0; j < M; j++) {
        v0[j] = ((5 * j) % 7) / 10.0 - 0.3;
        x0[j] = j + ((3 * j) % 5) / 20.0;
        target[j] = 1.1 * j;
    }
    ws = workspace(SPRING_WORKSPACE_SIZE);
    const void *sin_[] = {k, v0, x0, target, &dt};
    void *sout[] = {&loss};
    spring(sin_, sout, ws);
    free(ws);
    printf("%.17g\n", loss);
    return 0;
}
