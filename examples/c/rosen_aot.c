/*
 * rosen_aot: the Rosenbrock function and its gradient compiled ahead of
 * time by `adjit build`, linked into a plain C program; no compiler and no
 * adjit library at run time.
 *
 *   adjit build ../programs/rosen.adj --grad --wrt x --size n=8 \
 *       -o rosen.o --header rosen.h
 *   cc rosen_aot.c rosen.o -I. -lm -o rosen_aot && ./rosen_aot
 *
 * Prints the gradient at x[j] = 0.5 + j/8 (one element per line), then runs
 * gradient descent from there and prints the value it reaches.
 */
#include "rosen.h"

#include <stdio.h>
#include <stdlib.h>

int main(void) {
    enum { N = ROSEN_GRAD_IN0_COUNT };
    double x[N], g[N], f;
    for (int j = 0; j < N; j++) x[j] = 0.5 + j / 8.0;

    size_t ws_size = ROSEN_GRAD_WORKSPACE_SIZE > ROSEN_WORKSPACE_SIZE ? ROSEN_GRAD_WORKSPACE_SIZE
                                                                      : ROSEN_WORKSPACE_SIZE;
    size_t rounded = (ws_size + ROSEN_WORKSPACE_ALIGN - 1) / ROSEN_WORKSPACE_ALIGN * ROSEN_WORKSPACE_ALIGN;
    void *ws = aligned_alloc(ROSEN_WORKSPACE_ALIGN, rounded ? rounded : ROSEN_WORKSPACE_ALIGN);
    if (!ws) return 1;

    const void *in[] = {x};
    void *grad_out[] = {g};
    void *value_out[] = {&f};
    rosen_grad(in, grad_out, ws);
    for (int j = 0; j < N; j++) printf("%.17g\n", g[j]);

    rosen(in, value_out, ws);
    double f0 = f;
    for (int step = 0; step < 2000; step++) {
        rosen_grad(in, grad_out, ws);
        for (int j = 0; j < N; j++) x[j] -= 1e-3 * g[j];
    }
    rosen(in, value_out, ws);
    fprintf(stderr, "gradient descent: f from %g to %g in 2000 steps\n", f0, f);
    free(ws);
    return f < f0 ? 0 : 1;
}
