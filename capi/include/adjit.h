/*
 * adjit.h — the C API of adjit: load a program in adjit's text format,
 * take its gradient, JVP, VJP or Hessian-vector product, compile it to
 * native code, query its shapes and workspace size, and call it with
 * buffers the caller owns, one sample at a time or a batch across cores.
 *
 * Link with libadjit_capi.so (-ladjit_capi) or libadjit_capi.a (then also
 * -lpthread -ldl -lm). Usable from C, C++ (the declarations are extern "C"),
 * Fortran (bind(C)) and Python ctypes.
 *
 * Conventions:
 * - Every function returning int returns ADJIT_OK (0) or an ADJIT_ERR_*
 *   code, and then adjit_last_error() says why. No function aborts or
 *   unwinds into the caller on bad input.
 * - Handles (adjit_module, adjit_fn, adjit_pool) are owned by the caller
 *   and freed with the matching _free function, which accepts NULL. A
 *   compiled function does not borrow its module; it may be called from
 *   several threads at once, each with its own workspace.
 * - Arrays are row-major. Element types: f64 = double, f32 = float,
 *   i64 = int64_t, bool = one byte holding 0 or 1. A scalar is one element.
 * - Buffer lengths cannot be checked through a pointer: each input must hold
 *   at least its element count (adjit_fn_input), each output must have room
 *   for its element count, and outputs must not overlap each other, the
 *   inputs or the workspace.
 */
#ifndef ADJIT_H
#define ADJIT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
#define ADJIT_OK 0
#define ADJIT_ERR_NULL 1      /* a required pointer was NULL */
#define ADJIT_ERR_PARSE 2     /* the program text does not parse or verify */
#define ADJIT_ERR_NOT_FOUND 3 /* no such function, parameter or size variable */
#define ADJIT_ERR_DERIVE 4    /* the derivative could not be taken */
#define ADJIT_ERR_SIZE 5      /* a size variable is unbound or invalid */
#define ADJIT_ERR_COMPILE 6   /* the JIT could not compile the function */
#define ADJIT_ERR_ARGUMENT 7  /* index out of range, unknown kind, misaligned workspace, ... */
#define ADJIT_ERR_INTERNAL 8  /* a bug of adjit, caught at the boundary */

/* Element types (adjit_arg_info.elem). */
#define ADJIT_F64 0
#define ADJIT_F32 1
#define ADJIT_I64 2
#define ADJIT_BOOL 3

/* Derivative kinds (adjit_derive). */
#define ADJIT_PRIMAL 0 /* the function itself */
#define ADJIT_GRAD 1   /* x -> grad f(x) per differentiated parameter (without f(x)); f's last output must be a float scalar */
#define ADJIT_JVP 2    /* (x, x_dot per wrt parameter) -> (y, y_dot per float output) */
#define ADJIT_VJP 3    /* (x, y_bar per float output) -> (y, x_bar per wrt parameter) */
#define ADJIT_HVP 4    /* (x, v per wrt parameter) -> H(x) v per wrt parameter (alone) */

/* Alignment of a call's workspace, in bytes. */
#define ADJIT_WORKSPACE_ALIGN 64

typedef struct AdjitModule adjit_module; /* a loaded program */
typedef struct AdjitFn adjit_fn;         /* a compiled function */
typedef struct AdjitPool adjit_pool;     /* worker threads for batch calls */

/* One input or output of a compiled function. name and dims point into the
 * function and live as long as it. */
typedef struct adjit_arg_info {
    const char *name;   /* the parameter's or output's name */
    int elem;           /* ADJIT_F64, ADJIT_F32, ADJIT_I64 or ADJIT_BOOL */
    size_t rank;        /* 0 for a scalar */
    const size_t *dims; /* rank dimensions */
    size_t count;       /* element count: the product of dims (1 for a scalar) */
} adjit_arg_info;

/* The message of the last failed call on this thread ("" after a successful
 * one); valid until the next adjit call on the same thread. */
const char *adjit_last_error(void);

/* The library version ("0.1.0"), a static string. */
const char *adjit_version(void);

/* Parses and verifies program text (NUL-terminated UTF-8). Its default
 * function is the last one in the text. */
int adjit_module_parse(const char *text, adjit_module **out);
void adjit_module_free(adjit_module *m);

/* A new module whose default function is the kind program of func (NULL:
 * m's default function) with respect to the comma-separated parameter
 * names wrt (NULL or "": every float parameter), optimised. Derivatives
 * compose: adjit_derive of a derived module differentiates again. */
int adjit_derive(const adjit_module *m, const char *func, int kind, const char *wrt,
                 adjit_module **out);

/* Compiles func (NULL: the default function) with its size variables bound
 * by sizes, e.g. "n=32,m=4" (NULL or "" when it has none; a missing size
 * is ADJIT_ERR_SIZE, with a message naming the size variables). */
int adjit_compile(const adjit_module *m, const char *func, const char *sizes, adjit_fn **out);
void adjit_fn_free(adjit_fn *f);

size_t adjit_fn_num_inputs(const adjit_fn *f);
size_t adjit_fn_num_outputs(const adjit_fn *f);
int adjit_fn_input(const adjit_fn *f, size_t i, adjit_arg_info *info);
int adjit_fn_output(const adjit_fn *f, size_t i, adjit_arg_info *info);
/* Bytes of workspace a call needs (fixed at compile time). */
size_t adjit_fn_workspace_size(const adjit_fn *f);

/* Calls f: inputs[i] points to input i's elements, outputs[i] to room for
 * output i's; workspace to adjit_fn_workspace_size(f) bytes aligned to
 * ADJIT_WORKSPACE_ALIGN (e.g. from aligned_alloc), or NULL to let the call
 * allocate one (an allocation per call). */
int adjit_fn_call(const adjit_fn *f, const void *const *inputs, void *const *outputs,
                  void *workspace);

/* Worker threads for batch calls (threads = 0: one per core). */
int adjit_pool_new(size_t threads, adjit_pool **out);
size_t adjit_pool_threads(const adjit_pool *p);
void adjit_pool_free(adjit_pool *p);

/* Calls f on batch samples across the pool's threads. Input i is stacked
 * (batch samples one after the other, sample b at b * count) if stacked is
 * NULL or stacked[i] != 0, else shared by every sample; each output receives
 * batch * count elements, stacked. Every worker has its own workspace; the
 * results do not depend on the number of threads. A pool runs one batch at
 * a time (concurrent calls on one pool wait for each other). */
int adjit_fn_call_batch(const adjit_fn *f, const adjit_pool *pool, size_t batch,
                        const void *const *inputs, const int *stacked,
                        void *const *outputs);

#ifdef __cplusplus
}
#endif

#endif /* ADJIT_H */
