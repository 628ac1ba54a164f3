"""Minimax polynomial fits (Remez exchange) for the math kernels.

Run: python3 remez.py  (needs mpmath; a few minutes). Prints every
coefficient table used by the kernels with the achieved weighted error
(relative unless a weight is given).
"""
import mpmath as mp

mp.mp.dps = 60


def gauss(A, b, m):
    M = [[A[i, j] for j in range(m)] + [b[i]] for i in range(m)]
    for col in range(m):
        p = max(range(col, m), key=lambda r: abs(M[r][col]))
        M[col], M[p] = M[p], M[col]
        for r in range(col + 1, m):
            f = M[r][col] / M[col][col]
            for k in range(col, m + 1):
                M[r][k] -= f * M[col][k]
    x = [mp.mpf(0)] * m
    for i in reversed(range(m)):
        x[i] = (M[i][m] - sum(M[i][k] * x[k] for k in range(i + 1, m))) / M[i][i]
    return x


def remez(f, a, b, n, w=lambda z: 1, iters=30, grid=3000):
    """Best approximation p (degree n) minimising max |w(z) (f(z) - p(z))| on [a, b]."""
    a, b = mp.mpf(a), mp.mpf(b)
    m = n + 2
    xs = [(a + b) / 2 - (b - a) / 2 * mp.cos(mp.pi * i / (m - 1)) for i in range(m)]
    last = None
    for _ in range(iters):
        A = mp.matrix(m, m)
        rhs = mp.matrix(m, 1)
        for i, x in enumerate(xs):
            for j in range(n + 1):
                A[i, j] = x ** j
            A[i, n + 1] = (-1) ** i / w(x)
            rhs[i] = f(x)
        sol = gauss(A, rhs, m)
        c = sol[: n + 1]

        def err(z):
            return w(z) * (f(z) - mp.polyval(c[::-1], z))

        pts = [a + (b - a) * i / grid for i in range(grid + 1)]
        es = [err(z) for z in pts]
        for i in range(1, len(es)):
            if es[i] == 0:
                es[i] = es[i - 1] * mp.mpf("1e-30")
        if es[0] == 0:
            es[0] = es[1] * mp.mpf("1e-30")
        # local extrema of err, one per sign run
        ext = []
        i = 0
        while i < len(pts):
            j = i
            s = mp.sign(es[i])
            best = i
            while j < len(pts) and mp.sign(es[j]) == s:
                if abs(es[j]) > abs(es[best]):
                    best = j
                j += 1
            ext.append(best)
            i = j
        # refine each extremum by golden section on a neighbourhood
        ref = []
        for k in ext:
            lo = pts[max(k - 1, 0)]
            hi = pts[min(k + 1, grid)]
            g = lambda z: -abs(err(z))
            for _ in range(60):
                m1 = lo + (hi - lo) * mp.mpf("0.381966")
                m2 = lo + (hi - lo) * mp.mpf("0.618034")
                if g(m1) < g(m2):
                    hi = m2
                else:
                    lo = m1
            z = (lo + hi) / 2
            if abs(err(pts[k])) > abs(err(z)):
                z = pts[k]
            ref.append(z)
        while len(ref) > m:
            # drop the smallest end or the smallest adjacent pair
            vals = [abs(err(z)) for z in ref]
            if vals[0] < vals[-1]:
                ref.pop(0)
            else:
                ref.pop()
        if len(ref) < m:
            break
        xs = ref
        emax = max(abs(err(z)) for z in xs)
        if last is not None and abs(emax - last) < emax * mp.mpf("1e-6"):
            break
        last = emax
    emax = max(abs(err(z)) for z in pts)
    return c, emax


def show(name, c, e):
    print(f"// {name}: max weighted error {mp.nstr(e, 5)} = 2^{mp.nstr(mp.log(e, 2), 4)}")
    print(f"const {name}: [f64; {len(c)}] = [")
    for v in c:
        print(f"    {float(v)!r},")
    print("];")


def hp(g, limit):
    """Evaluates g(z) with enough working precision to survive cancellation near 0."""

    def f(z):
        if z == 0:
            return mp.mpf(limit)
        bits = int(-6 * mp.log(abs(z), 2)) + 300 if abs(z) < 1 else 300
        with mp.workprec(bits):
            return +g(z)

    return f


def rel(f):
    return lambda z: 1 / f(z)


def main():
    """Every coefficient table of the kernels: (name, function, interval, degree, weight)."""
    sq = mp.sqrt
    fits = [
        # exp.rs: (e^r - 1 - r - r^2/2) / r^3
        ("EXP_Q", hp(lambda r: (mp.exp(r) - 1 - r - r * r / 2) / r**3, mp.mpf(1) / 6), "-0.3466", "0.3466", 9, None),
        # exp.rs: (tanh x - x) / x^3 in z = x^2
        ("TANH_T", hp(lambda z: (mp.tanh(sq(z)) - sq(z)) / sq(z) ** 3, -mp.mpf(1) / 3), 0, "0.3025", 10, None),
        # log.rs: (2 atanh s - 2 s) / s^3 in z = s^2 (degree 6 for log, 7 for pow)
        ("LOG_P", hp(lambda z: (2 * mp.atanh(sq(z)) / sq(z) - 2) / z, mp.mpf(2) / 3), 0, "0.0295", 6, None),
        ("LOG_P7", hp(lambda z: (2 * mp.atanh(sq(z)) / sq(z) - 2) / z, mp.mpf(2) / 3), 0, "0.0295", 7, None),
        # trig.rs
        ("SIN_S", hp(lambda z: (mp.sin(sq(z)) - sq(z)) / sq(z) ** 3, -mp.mpf(1) / 6), 0, "0.6170", 5, None),
        ("COS_C", hp(lambda z: (mp.cos(sq(z)) - 1 + z / 2) / z**2, mp.mpf(1) / 24), 0, "0.6170", 5, None),
        # atan.rs
        ("ATAN_A", hp(lambda z: (mp.atan(sq(z)) - sq(z)) / sq(z) ** 3, -mp.mpf(1) / 3), 0, "0.17158", 10, None),
        # erf.rs (ERF_E is this fit with 1 subtracted from the constant term)
        ("ERF_E", hp(lambda z: mp.erf(sq(z)) / sq(z), 2 / sq(mp.pi)), 0, "0.5625", 10, None),
        ("ERF_M", lambda s: mp.erf(1 + s) - mp.mpf(float(mp.erf(1))), "-0.25", "0.5", 16, lambda s: 1),
        ("ERFC_F", lambda t: mp.erfc(1 / t) * mp.exp(1 / t**2) / t, 1 / mp.mpf("5.95"), 1 / mp.mpf("1.5"), 12,
         lambda t: mp.exp(-1 / t**2) * t),
    ]
    for name, f, a, b, n, w in fits:
        c, e = remez(f, a, b, n, w=w or rel(f))
        show(name, c, e)


if __name__ == "__main__":
    main()
