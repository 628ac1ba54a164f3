// rosen_grad.cpp: the C API from C++ (the header is extern "C"), with
// RAII owners for the handles. Prints the gradient of the Rosenbrock
// function at x[j] = 0.5 + j/4, n = 4, one element per line.
//
// Build: c++ rosen_grad.cpp -I../../capi/include -L../../target/debug
//        -ladjit_capi -Wl,-rpath,../../target/debug -o rosen_grad_cpp
#include "adjit.h"

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct ModuleFree {
    void operator()(adjit_module *m) const { adjit_module_free(m); }
};
struct FnFree {
    void operator()(adjit_fn *f) const { adjit_fn_free(f); }
};
using Module = std::unique_ptr<adjit_module, ModuleFree>;
using Fn = std::unique_ptr<adjit_fn, FnFree>;

void check(int status, const char *what) {
    if (status != ADJIT_OK)
        throw std::runtime_error(std::string(what) + ": " + adjit_last_error());
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s rosen.adj\n", argv[0]);
        return 2;
    }
    try {
        std::ifstream file(argv[1]);
        std::stringstream text;
        text << file.rdbuf();
        adjit_module *raw = nullptr;
        check(adjit_module_parse(text.str().c_str(), &raw), "parse");
        Module m(raw);
        check(adjit_derive(m.get(), nullptr, ADJIT_GRAD, "x", &raw), "derive");
        Module g(raw);
        adjit_fn *rawf = nullptr;
        check(adjit_compile(g.get(), nullptr, "n=4", &rawf), "compile");
        Fn f(rawf);
        std::vector<double> x{0.5, 0.75, 1.0, 1.25}, dx(4);
        const void *ins[] = {x.data()};
        void *outs[] = {dx.data()};
        check(adjit_fn_call(f.get(), ins, outs, nullptr), "call");
        for (double d : dx) std::printf("%.17g\n", d);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
