/*
 * grad_from_text: compile the gradient of a program given as text at run
 * time through adjit's C API, and call it with buffers this program owns.
 *
 *   grad_from_text PROGRAM.adj WRT SIZES INPUTS.txt
 *
 * PROGRAM.adj is read as text; the gradient of its last function with
 * respect to the comma-separated parameters WRT (e.g. "k,v0") is compiled
 * with the size variables SIZES bound (e.g. "n=32", or "" if none).
 * INPUTS.txt holds every element of every input, in parameter order,
 * row-major, separated by white space. The gradient is printed one element
 * per line, %.17g, after a line "output NAME COUNT" per output.
 *
 * Without arguments it runs a built-in example (the Rosenbrock function at
 * n = 4) and shows that a malformed program is an error code and a message.
 *
 * Build: cc grad_from_text.c -I../../capi/include -L../../target/debug
 *        -ladjit_capi -Wl,-rpath,../../target/debug -o grad_from_text
 */
#include "adjit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *ROSEN =
    "func @rosen(%x: f64[n]) -> f64 {\n"
    "  %x0: f64[n-1] = slice %x, [0:n-1]\n"
    "  %x1: f64[n-1] = slice %x, [1:n]\n"
    "  %sq: f64[n-1] = mul %x0, %x0\n"
    "  %d: f64[n-1] = sub %x1, %sq\n"
    "  %dd: f64[n-1] = mul %d, %d\n"
    "  %c100: f64[n-1] = const 100.0\n"
    "  %a: f64[n-1] = mul %c100, %dd\n"
    "  %one: f64[n-1] = const 1.0\n"
    "  %e: f64[n-1] = sub %one, %x0\n"
    "  %ee: f64[n-1] = mul %e, %e\n"
    "  %t: f64[n-1] = add %a, %ee\n"
    "  %f: f64 = reduce_sum %t, axes=[0]\n"
    "  return %f\n"
    "}\n";

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (text && fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        text = NULL;
    }
    if (text) text[n] = '\0';
    fclose(f);
    return text;
}

/* Prints the failing call and the library's message; returns 1. */
static int report(const char *what, int status) {
    fprintf(stderr, "%s failed (status %d): %s\n", what, status, adjit_last_error());
    return 1;
}

/* Compiles the gradient of text's last function and runs it on inputs
 * read from `in` (or, when in is NULL, on x[j] = 0.5 + j / 4). */
static int run(const char *text, const char *wrt, const char *sizes, FILE *in) {
    adjit_module *m = NULL, *g = NULL;
    adjit_fn *f = NULL;
    int status, rc = 1;
    void *ws = NULL;
    const void **inputs = NULL;
    void **outputs = NULL;
    size_t ni = 0, no = 0;

    if ((status = adjit_module_parse(text, &m)) != ADJIT_OK) {
        rc = report("adjit_module_parse", status);
        goto done;
    }
    if ((status = adjit_derive(m, NULL, ADJIT_GRAD, wrt, &g)) != ADJIT_OK) {
        rc = report("adjit_derive", status);
        goto done;
    }
    if ((status = adjit_compile(g, NULL, sizes, &f)) != ADJIT_OK) {
        rc = report("adjit_compile", status);
        goto done;
    }
    ni = adjit_fn_num_inputs(f);
    no = adjit_fn_num_outputs(f);
    inputs = calloc(ni, sizeof *inputs);
    outputs = calloc(no, sizeof *outputs);
    for (size_t i = 0; i < ni; i++) {
        adjit_arg_info a;
        adjit_fn_input(f, i, &a);
        if (a.elem != ADJIT_F64) {
            fprintf(stderr, "input %s is not f64\n", a.name);
            goto done;
        }
        double *x = malloc(a.count * sizeof *x + 1);
        for (size_t j = 0; j < a.count; j++) {
            if (in) {
                if (fscanf(in, "%lf", &x[j]) != 1) {
                    fprintf(stderr, "too few numbers for input %s\n", a.name);
                    free(x);
                    goto done;
                }
            } else {
                x[j] = 0.5 + (double)j / 4.0;
            }
        }
        inputs[i] = x;
    }
    for (size_t i = 0; i < no; i++) {
        adjit_arg_info a;
        adjit_fn_output(f, i, &a);
        outputs[i] = malloc(a.count * sizeof(double) + 1);
    }
    size_t size = adjit_fn_workspace_size(f);
    /* aligned_alloc wants a multiple of the alignment. */
    size_t rounded = (size + ADJIT_WORKSPACE_ALIGN - 1) / ADJIT_WORKSPACE_ALIGN * ADJIT_WORKSPACE_ALIGN;
    ws = aligned_alloc(ADJIT_WORKSPACE_ALIGN, rounded ? rounded : ADJIT_WORKSPACE_ALIGN);
    if ((status = adjit_fn_call(f, inputs, outputs, ws)) != ADJIT_OK) {
        rc = report("adjit_fn_call", status);
        goto done;
    }
    for (size_t i = 0; i < no; i++) {
        adjit_arg_info a;
        adjit_fn_output(f, i, &a);
        printf("output %s %zu\n", a.name, a.count);
        const double *y = outputs[i];
        for (size_t j = 0; j < a.count; j++) printf("%.17g\n", y[j]);
    }
    rc = 0;
done:
    for (size_t i = 0; inputs && i < ni; i++) free((void *)inputs[i]);
    for (size_t i = 0; outputs && i < no; i++) free(outputs[i]);
    free(inputs);
    free(outputs);
    free(ws);
    adjit_fn_free(f);
    adjit_module_free(g);
    adjit_module_free(m);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 5) {
        char *text = read_file(argv[1]);
        if (!text) {
            fprintf(stderr, "cannot read %s\n", argv[1]);
            return 1;
        }
        FILE *in = fopen(argv[4], "r");
        if (!in) {
            fprintf(stderr, "cannot read %s\n", argv[4]);
            free(text);
            return 1;
        }
        int rc = run(text, argv[2], argv[3], in);
        fclose(in);
        free(text);
        return rc;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: %s [PROGRAM.adj WRT SIZES INPUTS.txt]\n", argv[0]);
        return 2;
    }
    printf("adjit %s: gradient of the Rosenbrock function at n = 4\n", adjit_version());
    if (run(ROSEN, "x", "n=4", NULL) != 0) return 1;

    /* A malformed program is an error code and a message, not an abort. */
    adjit_module *bad = NULL;
    int status = adjit_module_parse("func @f(%x: f64) -> f64 {\n  %y: f64 = frobnicate %x\n", &bad);
    printf("malformed program: status %d (ADJIT_ERR_PARSE = %d), module %s\n", status,
           ADJIT_ERR_PARSE, bad ? "non-null" : "null");
    printf("message: %s\n", adjit_last_error());
    return status == ADJIT_ERR_PARSE && bad == NULL ? 0 : 1;
}
