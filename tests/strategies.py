"""Hypothesis strategies for random well-formed expressions and points.

Reusable for any property or differential-fuzzing test: ``expressions()``
draws ASTs (``derivcmp.expr`` nodes, in the parser's canonical form),
``texts()`` the same as strings, ``points()`` values for the variables and
``problems()`` the lot (text, wrt, point, order).

Every function and operator comes from the primitive table (``PRIMITIVES``),
so a primitive added there is fuzzed automatically; one whose real domain is
restricted needs an entry in ``ARGUMENT_SHAPERS`` saying how to keep a random
subtree inside it (a test below fails until it has one).  Shapers keep
arguments inside the domain for *every* point (``log(1 + u^2)``,
``asin(0.9*tanh(u))``), so the reference is rarely undefined; points can still
land on kinks (``abs(0)``, ``max`` ties), which is left to the caller to
filter or to exercise.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from derivcmp.expr import Apply, Const, Expr, Num, Var, parse, to_text
from derivcmp.primitives import BY_NAME, PRIMITIVES

VARIABLES = ("x", "y", "z")

#: literals as the user writes them; exact decimals, a few negative
LITERALS = ("0.5", "1", "2", "3", "1.5", "0.25", "0.1", "-2", "-0.75", "10")

S = st.SearchStrategy


def _a(op: str, *args: Expr) -> Expr:
    return Apply(op, tuple(args))


def _n(text: str) -> Num:
    return Num(text)


# --- keeping arguments inside a primitive's real domain ------------------------------

def positive(u: Expr) -> S:
    """Subtrees > 0 for every value of ``u`` (bounded away from 0)."""
    return st.sampled_from([
        _a("add", _n("1"), _a("powi", u, _n("2"))),            # 1 + u^2
        _a("exp", u),                                           # e^u
        _a("add", _n("0.5"), _a("sigmoid", u)),                 # 0.5 + sigmoid(u)
        _a("hypot", u, _n("1")),                                # sqrt(u^2 + 1)
    ])


def nonzero(u: Expr) -> S:
    return st.one_of(positive(u), positive(u).map(lambda p: _a("neg", p)))


def open_unit(u: Expr) -> S:
    """Subtrees strictly inside (-1, 1), away from the end points."""
    return st.sampled_from([
        _a("mul", _n("0.9"), _a("tanh", u)),
        _a("mul", _n("0.9"), _a("sin", u)),
        _a("div", u, _a("hypot", u, _n("2"))),                 # u / sqrt(u^2 + 4)
    ])


def above_one(u: Expr) -> S:
    return positive(u).map(lambda p: _a("add", _n("1.25"), p))


def _one(fn: Callable[[Expr], S]) -> Callable[[tuple[Expr, ...]], S]:
    return lambda args: fn(args[0]).map(lambda a: (a,))


#: primitive name -> how to turn random argument subtrees into admissible ones
ARGUMENT_SHAPERS: dict[str, Callable[[tuple[Expr, ...]], S]] = {
    "log": _one(positive),
    "log2": _one(positive),
    "log10": _one(positive),
    "sqrt": _one(positive),
    "log1p": _one(positive),
    "asin": _one(open_unit),
    "acos": _one(open_unit),
    "atanh": _one(open_unit),
    "acosh": _one(above_one),
    # tan has poles at odd multiples of pi/2; keep |argument| < 1.3
    "tan": lambda args: st.sampled_from([(_a("mul", _n("1.3"), _a("sin", args[0])),),
                                         (_a("atan", args[0]),)]),
    # y != 0 keeps atan2 off (0, 0) and off its jump along the negative x axis
    "atan2": lambda args: nonzero(args[0]).map(lambda y: (y, args[1])),
    "div": lambda args: nonzero(args[1]).map(lambda d: (args[0], d)),
    # a variable exponent needs a positive base
    "pow": lambda args: positive(args[0]).map(lambda b: (b, args[1])),
    # integer literal exponents; negative ones need a nonzero base
    "powi": lambda args: st.integers(-3, 4).flatmap(
        lambda n: (nonzero(args[0]) if n < 0 else st.just(args[0])).map(
            lambda b: (b, _n(str(n))))),
    "log_base": lambda args: st.tuples(positive(args[0]), above_one(args[1]).map(
        lambda b: _a("add", _n("0.5"), b))),
}

UNRESTRICTED = {p.name for p in PRIMITIVES if p.domain is None} - set(ARGUMENT_SHAPERS)
NEEDS_SHAPER = {p.name for p in PRIMITIVES if p.domain is not None} - set(ARGUMENT_SHAPERS)


# --- expressions ----------------------------------------------------------------------

def leaves(variables: tuple[str, ...] = VARIABLES) -> S:
    return st.one_of(
        st.sampled_from(variables).map(Var),
        st.sampled_from(variables).map(Var),          # variables twice as likely
        st.sampled_from(LITERALS).map(Num),
        st.sampled_from(("pi", "e")).map(Const),
    )


def _apply(prim, children: S) -> S:
    raw = st.tuples(*[children] * prim.arity)
    shaper = ARGUMENT_SHAPERS.get(prim.name)
    if shaper is not None:
        raw = raw.flatmap(shaper)
    return raw.map(lambda args: Apply(prim.name, tuple(args)))


def raw_expressions(max_depth: int = 3, variables: tuple[str, ...] = VARIABLES,
                    primitives=PRIMITIVES) -> S:
    """ASTs of at most ``max_depth`` nested primitive applications (shapers add
    a level or two of their own); not yet canonical, see ``expressions``."""
    prims = [p for p in primitives if p.name not in NEEDS_SHAPER]
    strat = leaves(variables)
    for _ in range(max_depth):
        below = strat
        # sampled by name: a short repr in hypothesis' statistics and notes
        apply = st.sampled_from([p.name for p in prims]).flatmap(
            lambda name, b=below: _apply(BY_NAME[name], b))
        strat = st.one_of(apply, apply, below)      # mostly nested, sometimes shallow
    return strat


def canonical(expr: Expr) -> Expr:
    """The tree the parser makes of the printed text (``a^2`` is powi, ``-2``
    a literal), so ASTs and strings are interchangeable."""
    return parse(to_text(expr))


def expressions(max_depth: int = 3, variables: tuple[str, ...] = VARIABLES,
                primitives=PRIMITIVES) -> S:
    return raw_expressions(max_depth, variables, primitives).map(canonical)


def texts(max_depth: int = 3, variables: tuple[str, ...] = VARIABLES, primitives=PRIMITIVES) -> S:
    return raw_expressions(max_depth, variables, primitives).map(to_text)


# --- points and problems ------------------------------------------------------------------

def coordinates(bound: float = 3.0) -> S:
    """Moderate float64 values, including the special ones hypothesis likes
    (0, +-1, tiny numbers): kinks and cancellations are meant to be hit."""
    return st.floats(min_value=-bound, max_value=bound, allow_nan=False, allow_infinity=False,
                     allow_subnormal=False)


def points(names, bound: float = 3.0) -> S:
    names = list(names)
    return st.tuples(*[coordinates(bound)] * len(names)).map(lambda vs: dict(zip(names, vs)))


@st.composite
def problems(draw, max_depth: int = 3, max_order: int = 2, variables: tuple[str, ...] = VARIABLES,
             bound: float = 3.0):
    """``(expr, wrt, point, order)``: a random expression with at least one
    variable, a non-empty ordered subset of its variables, a point for all of
    them, and an order (a Hessian when several ``wrt`` and order 2)."""
    from derivcmp.expr import variables as variables_of

    expr = draw(expressions(max_depth, variables).filter(lambda e: bool(variables_of(e))))
    names = variables_of(expr)
    wrt = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True))
    order = draw(st.integers(1, max_order if len(wrt) == 1 or max_order < 2 else 2))
    point = draw(points(names, bound))
    return expr, tuple(wrt), point, order


# --- judging agreement: how small an error is small enough ------------------------------

def _mp_partials(prim, exponent: int | None = None):
    """Partial derivatives of a primitive up to third order (``_mp_partials_upto``)."""
    return _mp_partials_upto(prim, 3, exponent)


_PARTIALS: dict = {}


def _judge_digits(point, base: int = 40) -> int:
    """Working digits for the judge's exact evaluations: ``base`` plus enough to
    see ``1 + y`` for the smallest nonzero input ``y`` (0.5 + sigmoid(y) at
    y = -5e-110 is 1 - 1.2e-110, exactly 1 at 40 digits)."""
    import math
    tiny = [abs(float(v)) for v in point.values() if float(v) != 0 and abs(float(v)) < 1]
    return base + min(1000, max([0] + [int(-math.log10(t)) for t in tiny]))


def error_scale(expr: Expr, wrt, point, order: int) -> float:
    """How large the float64 error of a chain-rule derivative can honestly be,
    divided by eps: a first-order running error analysis over the AST.

    Evaluated exactly (mpmath) at the exact binary point, for every node:

    * ``S``, the error scale of its value: its own rounding ``|v|`` plus the
      argument errors amplified by the partials, ``sum |df/da_k| S_k``.  This
      is what makes log(y) at y = 1 + 5e-14 only absolutely accurate.
    * the magnitude of the chain-rule terms of its gradient / Hessian
      (``sum |df/da_k| |g_k|``, ``sum |d2f/da_k da_l| |g_k| |g_l|^T + ...``),
      not the possibly cancelled sums: sigmoid''(x) = 1/4 - 1/4 + O(x).
    * the error scale of its gradient / Hessian: term magnitudes plus the
      propagated errors of the arguments' derivatives and of the partials
      themselves, a partial being evaluated at arguments carrying errors S.
      A second partial is taken to be accurate only at the scale of the
      first partial it is derived from (reverse-over-reverse differentiates
      the rule's formula by the product and quotient rules, so
      tanh''(x) ~ -2x comes out of terms of size tanh'(x) ~ 1).

    The result is the max over the derivative's entries; a float64 method
    computing the derivative is expected within a modest multiple of
    eps * error_scale.  Primitive partials come from sympy, never from the
    rules in the table, so a wrong rule cannot widen its own tolerance.
    """
    import mpmath

    from derivcmp.primitives import CONSTANTS
    from derivcmp.program import CONST, INPUT, compile_program

    wrt = list(wrt)
    n = len(wrt)
    program = compile_program(expr)
    with mpmath.workdps(_judge_digits(point)):
        zero_g = [mpmath.mpf(0)] * n
        zero_h = [[mpmath.mpf(0)] * n for _ in range(n)]
        nodes = []      # (v, S, gabs, EG, habs, EH)
        for slot in program.slots:
            if slot.kind == INPUT:
                g = [mpmath.mpf(1 if w == slot.name else 0) for w in wrt]
                nodes.append((mpmath.mpf(float(point[slot.name])), mpmath.mpf(0), g, zero_g,
                              zero_h, zero_h))
                continue
            if slot.kind == CONST:
                node = slot.node
                v = mpmath.mpf(node.text) if hasattr(node, "text") else CONSTANTS[node.name][1]()
                rounded = v != mpmath.mpf(float(v))         # 0.1 and pi round; 2 does not
                nodes.append((v, abs(v) if rounded else mpmath.mpf(0), zero_g, zero_g, zero_h, zero_h))
                continue
            args = [nodes[a] for a in slot.args]
            vals = [a[0] for a in args]
            v = slot.prim.mp(*vals)
            table = _mp_partials(slot.prim, int(vals[1]) if slot.prim.name == "powi" else None)
            live = [k for k, a in enumerate(args) if a[1] or any(a[2]) or any(a[3])]

            def p(*idx, table=table, vals=vals):
                try:
                    return abs(mpmath.mpmathify(table[tuple(sorted(idx))](*vals)))
                except (ZeroDivisionError, ValueError):
                    return mpmath.inf        # a singular partial: no honest scale

            S = abs(v) + mpmath.fsum(p(k) * args[k][1] for k in live)
            gabs, EG = list(zero_g), list(zero_g)
            habs = [row[:] for row in zero_h]
            EH = [row[:] for row in zero_h]
            for k in live:
                _, _, gk, egk, hk, ehk = args[k]
                pk = p(k)
                epk = pk + mpmath.fsum(p(k, m) * args[m][1] for m in live)
                for i in range(n):
                    gabs[i] += pk * gk[i]
                    EG[i] += pk * gk[i] + pk * egk[i] + epk * gk[i]
                if order < 2:
                    continue
                for i in range(n):
                    for j in range(n):
                        habs[i][j] += pk * hk[i][j]
                        EH[i][j] += pk * (hk[i][j] + ehk[i][j]) + epk * hk[i][j]
                for l in live:
                    _, _, gl, egl, _, _ = args[l]
                    pkl = p(k, l)
                    epkl = pkl + max(pk, p(l)) + mpmath.fsum(p(k, l, m) * args[m][1] for m in live)
                    for i in range(n):
                        for j in range(n):
                            gg = gk[i] * gl[j]
                            habs[i][j] += pkl * gg
                            EH[i][j] += pkl * (gg + egk[i] * gl[j] + gk[i] * egl[j]) + epkl * gg
            nodes.append((v, S, gabs, EG, habs, EH))
        out = nodes[program.output]
        err = out[3] if order == 1 else [x for row in out[5] for x in row]
        if order >= 3:
            # the analysis above stops at the Hessian: its figure is in the wrong
            # units for d^3/dx^3 (1/y against 1/y^2 for hypot(y, y) at y = 2e-69)
            return taylor_error_scale(expr, wrt[0], point, order)
        return float(max(err, default=0))


def _mp_partials_upto(prim, order: int, exponent: int | None = None):
    """Every partial derivative of a primitive up to ``order``, from sympy's own
    differentiation of the table's sympy form (not from the table's rules), as
    mpmath callables keyed by sorted argument-index tuples.  An integer
    literal exponent is a constant: a^2 differentiated as a^2, not as a^n
    (whose a-partials sympy writes as n a^n / a, 0/0 at a = 0)."""
    import itertools

    import mpmath
    import sympy

    key = (prim.name, exponent, order)
    if key in _PARTIALS:
        return _PARTIALS[key]
    syms = sympy.symbols(f"a0:{prim.arity}", real=True)
    f = syms[0] ** exponent if exponent is not None else prim.sp(*syms)
    modules = [{"Heaviside": lambda x, h=0.5: mpmath.mpf(h) if x == 0 else mpmath.mpf(x > 0),
                "DiracDelta": lambda *a: mpmath.mpf(0), "sign": mpmath.sign,
                "Max": max, "Min": min}, "mpmath"]
    table = {}
    for n in range(1, order + 1):
        for idx in itertools.combinations_with_replacement(range(prim.arity), n):
            d = sympy.diff(f, *[syms[i] for i in idx])
            table[idx] = sympy.lambdify(syms, d, modules=modules)
    _PARTIALS[key] = table
    return table


def taylor_error_scale(expr: Expr, var: str, point, order: int) -> float:
    """The error scale (divided by eps) of d^n/dvar^n computed in float64 by
    any chain-rule method, for any order n: the magnitude of every term of Faa
    di Bruno's formula, obtained by propagating *majorant* Taylor series (each
    coefficient the sum of the absolute values of the terms that make it up)
    through the expression, a primitive's partials taken in absolute value
    and widened by the error of the values they are evaluated at (first
    order: ``|d^a f| + sum_m |d^(a+e_m) f| S_m``), and a higher partial
    counted at least at the size of the lower partials it is derived from
    (the Hessian analysis of ``error_scale`` does the same).  ``n! m_n`` is
    then the size of the terms whose cancellation the method computes, and so
    the scale of its rounding error."""
    import itertools
    import math

    import mpmath

    from derivcmp.primitives import CONSTANTS
    from derivcmp.program import CONST, INPUT, compile_program

    program = compile_program(expr)
    n = order

    def mul(a, b):
        out = [mpmath.mpf(0)] * (n + 1)
        for i, x in enumerate(a):
            if x:
                for j in range(n + 1 - i):
                    out[i + j] += x * b[j]
        return out

    with mpmath.workdps(_judge_digits(point)):
        nodes = []      # (value, S, majorant series [0, m_1, ..., m_n])
        for slot in program.slots:
            if slot.kind == INPUT:
                series = [mpmath.mpf(0)] * (n + 1)
                if slot.name == var:
                    series[1] = mpmath.mpf(1)
                nodes.append((mpmath.mpf(float(point[slot.name])), mpmath.mpf(0), series))
                continue
            if slot.kind == CONST:
                node = slot.node
                v = mpmath.mpf(node.text) if hasattr(node, "text") else CONSTANTS[node.name][1]()
                rounded = v != mpmath.mpf(float(v))
                nodes.append((v, abs(v) if rounded else mpmath.mpf(0), [mpmath.mpf(0)] * (n + 1)))
                continue
            args = [nodes[a] for a in slot.args]
            vals = [a[0] for a in args]
            v = slot.prim.mp(*vals)
            table = _mp_partials_upto(slot.prim, n + 1, int(vals[1]) if slot.prim.name == "powi" else None)

            def p(idx, table=table, vals=vals):
                try:
                    return abs(mpmath.mpmathify(table[tuple(sorted(idx))](*vals)))
                except (ZeroDivisionError, ValueError):
                    return mpmath.inf

            live = [k for k, a in enumerate(args) if a[1] or any(a[2])]
            S = abs(v) + mpmath.fsum(p((k,)) * args[k][1] for k in live)
            series = [mpmath.mpf(0)] * (n + 1)
            for total in range(1, n + 1):
                for idx in itertools.combinations_with_replacement(live, total):
                    # a higher partial is accurate only at the scale of the lower ones it is
                    # derived from (AD differentiates the rule's formula: atanh' =
                    # 1/((1-x)(1+x)) gives atanh'' from -1 - x + 1 - x, O(1) terms that
                    # cancel to -2x), as in error_scale's Hessian analysis
                    derived_from = max((p(idx[:j]) for j in range(1, len(idx))), default=0)
                    weight = (max(p(idx), derived_from)
                              + mpmath.fsum(p(idx + (m,)) * args[m][1] for m in live))
                    if not weight:
                        continue
                    term = [mpmath.mpf(1)] + [mpmath.mpf(0)] * n
                    for k in idx:
                        term = mul(term, args[k][2])
                    mult = mpmath.mpf(1)
                    for k in set(idx):
                        mult *= math.factorial(idx.count(k))
                    for i in range(n + 1):
                        series[i] += weight * term[i] / mult
            nodes.append((v, S, series))
        out = nodes[program.output]
        return float(math.factorial(n) * out[2][n])


# --- judging fd-central: the exact stencil and the rounding it may add ------------------
#
# A central difference has two errors: truncation (the stencil is not the
# derivative: ~h^2 f^(n+2)/6 for a smooth f, much more with a kink or a steep
# feature inside [x - 2h, x + 2h]) and rounding (each f(x + kh) carries
# float64 error, amplified by sum|w_k| / h^n).  Instead of *estimating* the
# truncation from higher derivatives of the reference (which assumes f is
# smooth across the stencil and needs a guess for f^(n+2) between the points),
# the stencil is evaluated exactly: the same float64 points x + k h the
# method uses, f at each in 40-digit mpmath.  Then
#
#   * fd-central must equal the exact stencil to within its rounding bound,
#     eps * sum|w_k| S(x_k) / h^n, where S is the running error scale of f's
#     value (below).  This is a tight, conditioning-aware assertion: a wrong
#     step, weight or shift is caught however smooth f is;
#   * |exact stencil - reference| *is* the truncation error, so a large total
#     error can be attributed (truncation vs rounding) instead of guessed at.
#
# The steps and weights below are the documented ones (README: h =
# eps^(1/(n+2)) max(1, |x|), eps^(1/4) for a Hessian, x +- h exact), written
# out here rather than read from the backend.

EPS = 2.0 ** -52

#: offset -> weight of the classical central stencils, by derivative order
CENTRAL_STENCILS = {
    1: {-1: -0.5, 1: 0.5},
    2: {-1: 1.0, 0: -2.0, 1: 1.0},
    3: {-2: -0.5, -1: 1.0, 1: -1.0, 2: 0.5},
    4: {-2: 1.0, -1: -4.0, 0: 6.0, 1: -4.0, 2: 1.0},
}


class LeavesDomain(Exception):
    """A stencil point where the function is undefined (or not real)."""


def fd_step(x: float, order: int, relative: bool = False) -> float:
    h = EPS ** (1.0 / (order + 2)) * (abs(x) if relative else max(1.0, abs(x)))
    return (x + h) - x


def fd_steps_allowed(x: float, order: int) -> set[float]:
    """The documented candidates: the classic step, and the relative one for 0 < |x| < 1."""
    out = {fd_step(x, order)}
    if 0 < abs(x) < 1:
        out.add(fd_step(x, order, relative=True))
    return out


def _value_and_scale(program, point):
    """f at ``point`` in mpmath and its float64 error scale S (divided by eps):
    each node's own rounding |v| plus its arguments' S times |df/da_k|."""
    import mpmath

    from derivcmp.primitives import CONSTANTS
    from derivcmp.program import CONST, INPUT

    vals, scales = [], []
    for slot in program.slots:
        if slot.kind == INPUT:
            vals.append(mpmath.mpf(float(point[slot.name])))
            scales.append(mpmath.mpf(0))
            continue
        if slot.kind == CONST:
            node = slot.node
            v = mpmath.mpf(node.text) if hasattr(node, "text") else CONSTANTS[node.name][1]()
            vals.append(v)
            scales.append(abs(v) if v != mpmath.mpf(float(v)) else mpmath.mpf(0))
            continue
        args = [vals[a] for a in slot.args]
        if slot.prim.domain is not None and slot.prim.domain(*args):
            raise LeavesDomain(slot.prim.domain(*args))
        try:
            v = slot.prim.mp(*args)
        except (ValueError, ZeroDivisionError) as err:
            raise LeavesDomain(str(err)) from None
        if isinstance(v, mpmath.mpc):
            raise LeavesDomain("not real")
        table = _mp_partials(slot.prim, int(args[1]) if slot.prim.name == "powi" else None)
        s = abs(v)
        for k, a in enumerate(slot.args):
            if scales[a]:
                try:
                    s += abs(mpmath.mpmathify(table[(k,)](*args))) * scales[a]
                except (ZeroDivisionError, ValueError):
                    s = mpmath.inf
        vals.append(v)
        scales.append(s)
    return vals[program.output], scales[program.output]


def fd_stencil(expr: Expr, wrt, point, order: int, steps=None):
    """``(exact, rounding, steps)``: the fd-central stencil evaluated exactly
    (a list of mpf, entries in row-major order of the derivative), the float64
    rounding error it may carry (absolute, per entry: a list of floats) and the
    steps.  Raises ``LeavesDomain`` when a stencil point is outside the domain."""
    import mpmath

    from derivcmp.program import compile_program

    program = compile_program(expr)
    wrt = list(wrt)
    step_order = 1 if order == 1 else order
    steps = steps or {n: fd_step(float(point[n]), step_order) for n in wrt}

    def at(shifts):
        p = {k: float(v) for k, v in point.items()}
        for name, delta in shifts:
            p[name] = p[name] + delta            # the same float64 sum as the method
        return _value_and_scale(program, p)

    exact, rounding = [], []
    with mpmath.workdps(40):
        if order == 1 or len(wrt) == 1:
            for n in wrt:
                h = steps[n]
                acc, scale = mpmath.mpf(0), mpmath.mpf(0)
                for k, w in CENTRAL_STENCILS[order].items():
                    v, s = at([(n, k * h)])
                    acc += w * v
                    scale += abs(w) * (s + abs(v))      # + |v|: rounding of the weighted sum
                exact.append(acc / mpmath.mpf(h) ** order)
                rounding.append(float(EPS * scale / mpmath.mpf(h) ** order))
            return exact, rounding, steps
        m = len(wrt)
        f0, s0 = at([])
        s0 += abs(f0)                           # + |v|: rounding of the stencil sums
        cells = {}
        for i, a in enumerate(wrt):
            ha = steps[a]
            (vp, sp), (vm, sm) = at([(a, ha)]), at([(a, -ha)])
            sp, sm = sp + abs(vp), sm + abs(vm)
            cells[i, i] = ((vp - 2 * f0 + vm) / mpmath.mpf(ha * ha),
                           float(EPS * (sp + 2 * s0 + sm) / mpmath.mpf(ha * ha)))
            for j in range(i):
                hb = steps[wrt[j]]
                corners = [at([(a, sa * ha), (wrt[j], sb * hb)]) for sa, sb in
                           ((1, 1), (1, -1), (-1, 1), (-1, -1))]
                num = corners[0][0] - corners[1][0] - corners[2][0] + corners[3][0]
                den = 4 * mpmath.mpf(ha) * mpmath.mpf(hb)
                cells[i, j] = cells[j, i] = (num / den,
                                             float(EPS * sum(s + abs(v) for v, s in corners) / den))
        for i in range(m):
            for j in range(m):
                exact.append(cells[i, j][0])
                rounding.append(cells[i, j][1])
        return exact, rounding, steps


# --- judging a whole comparison -----------------------------------------------------------

#: relative agreement expected of the float64 chain-rule methods (see test_property)
CHAIN_RULE_RTOL = 1e-9
#: the float64 range: an intermediate or a derivative beyond this is near overflow
BIG = 1e100
UNDERFLOW_FLOOR = 1e-290
#: the documented fd-central accuracy the shipped suites assume (suite.default_tolerance)
FD_NOMINAL = {1: 1e-5, 2: 1e-3, 3: 1e-1, 4: 1e-1}
#: the fd-central result must match the exact stencil within this multiple of
#: its rounding bound (the bound is a first-order analysis; libm calls round
#: to ~1 ulp, not 1/2)
FD_ROUNDING_SAFETY = 16.0


def judge(comparison) -> list[tuple[str, str, str, bool]]:
    """Every noteworthy finding about one ``Comparison``, as
    ``(method, category, explanation, is_bug)``.

    A finding with ``is_bug`` False is a documented limit of a method (it
    disagrees with the reference for a reason the README or test_property
    explains); one with ``is_bug`` True contradicts the spec.  Methods that
    agree within their expected error give no finding.
    """
    import math

    import mpmath
    import numpy as np

    from derivcmp.problem import NOT_APPLICABLE, OK, TIMEOUT
    from derivcmp.program import compile_program

    problem, ref = comparison.problem, comparison.reference
    expr, wrt, point, order = problem.expr, problem.wrt, problem.point, problem.order
    out: list[tuple[str, str, str, bool]] = []
    if ref.status == TIMEOUT:
        return [("reference", "hang", ref.message or "", True)]
    if ref.status not in (OK, "undefined", "not-differentiable"):
        if "cancels below the noise floor" in (ref.message or ""):
            # the stated limit of issue 8: precision raised up to a limit, then "cannot certify"
            # (asin(0.9*tanh(exp(x))) at x = 12.9: a derivative of about 1e-330000)
            return [("reference", "limit: cannot certify below the noise floor", ref.message or "", False)]
        return [("reference", "reference error", ref.message or "", True)]
    if ref.status != OK:
        for g in comparison.results:
            if g.rel_error is not None or g.abs_error is not None:
                out.append((g.name, "graded where no derivative exists",
                            f"reference {ref.status} but {g.name} has rel_error {g.rel_error}", True))
            if g.outcome.status == OK:
                out.append((g.name, "called ok where no derivative exists",
                            f"reference {ref.status}: {ref.message}", True))
            if g.outcome.status == TIMEOUT:
                out.append((g.name, "hang", g.outcome.message or "", True))
        return out

    program = compile_program(expr)
    with np.errstate(all="ignore"):
        values = program.evaluate_all(point)
    exact = [mpmath.mpf(s) for s in np.ravel(np.asarray(ref.exact, dtype=object))]
    ref_size = float(max(abs(r) for r in exact))
    near_overflow = (not all(math.isfinite(float(v)) and abs(float(v)) < BIG for v in values)
                     or ref_size >= BIG)
    kinks = ref.details.get("kinks")
    underflow = intermediate_underflow(program, point)

    def error_of(g):
        got = np.ravel(np.asarray(g.outcome.value, dtype=float))
        with mpmath.workdps(60):
            return [abs(mpmath.mpf(float(v)) - r) for v, r in zip(got, exact)]

    for g in comparison.results:
        st_ = g.outcome.status
        if st_ == TIMEOUT:
            out.append((g.name, "hang", g.outcome.message or "", True))
            continue
        if st_ == NOT_APPLICABLE:
            continue
        if g.name == "fd-central":
            found = _judge_fd(g, expr, wrt, point, order, exact, ref_size, near_overflow)
            if underflow:
                # the stencil's float64 values lose the underflowed operand as well
                found = [(m, "limit: float64 underflow of an intermediate", f"{underflow}; {why}", False)
                         if bug else (m, c, why, bug) for m, c, why, bug in found]
            out.extend(found)
            continue
        # ad-reverse and symbolic: exact formulas evaluated in float64
        if st_ != OK:
            if near_overflow:
                out.append((g.name, "limit: float64 overflow",
                            f"an intermediate or the derivative is >= 1e100: {g.outcome.message}", False))
            elif g.name == "symbolic" and formula_overflows(problem):
                # sympy writes d/dz log(0.5 + sigmoid(sinh(z))) with exp(-sinh(z)), 1e(5.7e19)
                # at z = -47, where the expression itself never leaves [0, 1]: the method is
                # evaluated as sympy writes it, and says it overflowed (not a wrong number)
                out.append((g.name, "limit: sympy's formula overflows float64",
                            f"{formula_overflows(problem)}: {g.outcome.message}", False))
            elif kinks:
                out.append((g.name, "limit: chain rule at a kink", f"{kinks[0]}: {g.outcome.message}", False))
            else:
                out.append((g.name, f"status {st_} where the reference is ok",
                            g.outcome.message or "", True))
            continue
        if g.rel_error is None:
            out.append((g.name, "not graded", "reference ok, method ok, but no error computed", True))
            continue
        if near_overflow:
            continue        # checked only for status above; accuracy near overflow is not promised
        scale = error_scale(expr, wrt, point, order)
        tol = CHAIN_RULE_RTOL * max(ref_size, scale) + UNDERFLOW_FLOOR
        err = float(max(error_of(g)))
        if err <= tol:
            continue
        why = f"error {err:.3g} > tolerance {tol:.3g} (|ref| {ref_size:.3g}, error scale {scale:.3g})"
        if kinks:
            out.append((g.name, "limit: chain rule at a kink", f"{kinks[0]}; {why}", False))
        elif underflow:
            out.append((g.name, "limit: float64 underflow of an intermediate", f"{underflow}; {why}", False))
        elif scale >= BIG:
            out.append((g.name, "limit: float64 overflow", f"error scale overflows; {why}", False))
        else:
            out.append(_explain_disagreement(g, problem, err, ref_size, why))
    return out


def _explain_disagreement(g, problem, err: float, ref_size: float, why: str):
    """A chain-rule method is off beyond the error analysis of the *expression*:
    try the two explanations that are limits, not bugs, before calling it one.

    * symbolic evaluates sympy's formula as sympy writes it, and that formula
      can cancel where the primitives' rules do not (tanh' = 1 - tanh(x)^2 at
      x = -24 is 5e-21 from terms of size 1): judged by the running error
      scale of the formula itself;
    * the function may be ill-conditioned with respect to the rounding of its
      constants (0.9, pi): a float64 method differentiates the function with
      fl(pi), the reference the one with pi.  If the method agrees with the
      reference of the rounded-constant function, that is the explanation.
    """
    import mpmath
    import numpy as np

    from derivcmp import sympy_bridge
    from derivcmp.problem import OK, Problem
    from derivcmp.reference import compute_reference

    got = np.ravel(np.asarray(g.outcome.value, dtype=float))
    if g.name == "symbolic":
        formula = sympy_bridge.derivative(sympy_bridge.to_sympy(problem.expr), problem.wrt, problem.order)
        fscale = formula_error_scale(formula, problem.point)
        if err <= CHAIN_RULE_RTOL * max(ref_size, fscale) + UNDERFLOW_FLOOR:
            return (g.name, "limit: sympy's formula cancels",
                    f"{why}; sympy's formula has error scale {fscale:.3g} (terms much larger than the value)",
                    False)
    rounded = Problem(rounded_constants(problem.expr), problem.wrt, problem.point, problem.order)
    ref2 = compute_reference(rounded)
    if ref2.status == OK:
        exact2 = [mpmath.mpf(x) for x in np.ravel(np.asarray(ref2.exact, dtype=object))]
        size2 = float(max(abs(r) for r in exact2))
        with mpmath.workdps(60):
            err2 = float(max(abs(mpmath.mpf(float(v)) - r) for v, r in zip(got, exact2)))
        if err2 <= CHAIN_RULE_RTOL * max(size2, error_scale(rounded.expr, problem.wrt, problem.point,
                                                             problem.order)) + UNDERFLOW_FLOOR:
            return (g.name, "limit: ill-conditioned w.r.t. rounding of constants",
                    (f"{why}; with every constant rounded to float64 the derivative is {ref2.exact}, "
                    f"which {g.name} matches (error {err2:.3g})"), False)
    return (g.name, "disagreement", why, True)


def _judge_fd(g, expr, wrt, point, order, exact, ref_size, near_overflow):
    import mpmath
    import numpy as np

    from derivcmp.problem import OK, UNRESOLVED

    out = []
    reported = g.outcome.details.get("steps") or {}
    step_order = 1 if order == 1 else order
    if reported and any(reported.get(n) not in fd_steps_allowed(float(point[n]), step_order) for n in wrt):
        out.append((g.name, "wrong step", f"steps {reported} are not among the documented candidates", True))
        return out
    if g.outcome.details.get("fallback"):
        out.append((g.name, "limit: one-sided fallback", g.outcome.details["fallback"], False))
        return out
    try:
        stencil, rounding, steps = fd_stencil(expr, wrt, point, order, reported or None)
    except LeavesDomain as err:
        if g.outcome.status == OK:
            out.append((g.name, "ok although a stencil point is outside the domain", str(err), True))
        else:
            out.append((g.name, "limit: stencil leaves the domain",
                        f"{err}; {g.outcome.status}: {g.outcome.message}", False))
        return out
    if g.outcome.status == UNRESOLVED:
        # the claim must be true: the exact stencil is within its rounding bound of 0
        lost = any(abs(s) <= FD_ROUNDING_SAFETY * r + UNDERFLOW_FLOOR for s, r in zip(stencil, rounding))
        out.append((g.name, "limit: unresolved (the stencil is lost in rounding)" if lost else
                    "unresolved although the stencil resolves the difference", g.outcome.message or "",
                    not lost))
        return out
    if g.outcome.status != OK:
        if near_overflow or any(not mpmath.isfinite(s) or abs(s) >= 1e300 for s in stencil):
            out.append((g.name, "limit: float64 overflow", g.outcome.message or "", False))
        else:
            out.append((g.name, f"status {g.outcome.status} where the stencil is finite",
                        g.outcome.message or "", True))
        return out
    got = np.ravel(np.asarray(g.outcome.value, dtype=float))
    with mpmath.workdps(60):
        for v, s, r, e in zip(got, stencil, rounding, exact):
            off = float(abs(mpmath.mpf(float(v)) - s))
            allowed = FD_ROUNDING_SAFETY * r + 4 * EPS * float(abs(s)) + UNDERFLOW_FLOOR
            if not off <= allowed and not near_overflow:
                out.append((g.name, "differs from its own stencil",
                            f"|fd - exact stencil| = {off:.3g} > {allowed:.3g} (rounding bound {r:.3g})", True))
                return out
    err = float(max(abs(mpmath.mpf(float(v)) - e) for v, e in zip(got, exact)))
    trunc = float(max(abs(s - e) for s, e in zip(stencil, exact)))
    rnd = max(rounding)
    if err <= FD_NOMINAL[order] * max(ref_size, 1e-300) or err <= UNDERFLOW_FLOOR:
        return out
    if trunc >= rnd:
        out.append((g.name, "limit: fd truncation",
                    (f"error {err:.3g} vs |ref| {ref_size:.3g}: the exact stencil is {trunc:.3g} from the "
                    f"derivative (large higher derivatives or a kink within h = {max(steps.values()):.3g})"),
                    False))
    else:
        out.append((g.name, "limit: fd rounding (ill-conditioned)",
                    (f"error {err:.3g} vs |ref| {ref_size:.3g}: eps*sum|w|*S/h^n = {rnd:.3g} >= truncation "
                    f"{trunc:.3g} (|f| or its error scale is large relative to the derivative)"), False))
    return out


# --- explaining a disagreement of a float64 formula -----------------------------------------

def rounded_constants(expr: Expr) -> Expr:
    """The same tree with every literal and constant replaced by the exact
    decimal of its float64 value: the function a float64 method really
    differentiates (``0.9`` and ``pi`` are not representable)."""
    import decimal

    from derivcmp.primitives import CONSTANTS

    done: dict[int, Expr] = {}
    from derivcmp.expr import walk
    for node in walk(expr):
        if isinstance(node, Num):
            done[id(node)] = Num(format(decimal.Decimal(float(node.text)), "f"))
        elif isinstance(node, Const):
            done[id(node)] = Num(format(decimal.Decimal(CONSTANTS[node.name][0]), "f"))
        elif isinstance(node, Apply):
            done[id(node)] = Apply(node.op, tuple(done[id(a)] for a in node.args))
        else:
            done[id(node)] = node
    return done[id(expr)]


def formula_error_scale(formula, point) -> float:
    """Running error scale (divided by eps) of evaluating a sympy formula in
    float64 as written: each node's rounding |v| plus its arguments' scales
    times the partials.  ``1 - tanh(x)**2`` at x = -24 has terms of size 1 and
    a value of 5e-21: the scale is 1, the relative error can be 1."""
    import mpmath
    import sympy

    from derivcmp import sympy_bridge

    subs = {sympy_bridge.symbol(k): sympy.Rational(float(v)) for k, v in point.items()}
    memo: dict = {}

    def value(node):
        return mpmath.mpf(sympy.Float(node.xreplace(subs).evalf(30), 30)._mpf_) if not node.is_Symbol else \
            mpmath.mpf(float(point[node.name]))

    def scale(node):
        if node in memo:
            return memo[node]
        if node.is_Symbol:
            s = mpmath.mpf(0)
        elif node.is_Number or node.is_NumberSymbol:
            v = value(node)
            s = abs(v) if v != mpmath.mpf(float(v)) else mpmath.mpf(0)
        else:
            v = abs(value(node))
            s = v
            args = node.args
            for k, a in enumerate(args):
                sa = scale(a)
                if not sa:
                    continue
                d = sympy.Dummy()
                partial = sympy.diff(node.func(*[d if i == k else b for i, b in enumerate(args)]), d)
                try:
                    p = abs(value(partial.xreplace({d: a})))
                except (TypeError, ValueError, AttributeError):
                    p = mpmath.inf
                s += p * sa
        memo[node] = s
        return s

    with mpmath.workdps(30):
        items = formula if isinstance(formula, list) else [formula]
        flat = [x for row in items for x in (row if isinstance(row, list) else [row])]
        return float(max(scale(f) for f in flat))


def formula_overflows(problem) -> str | None:
    """The first subexpression of sympy's derivative formula whose exact value
    at the point is beyond float64 (>= 1e300 in magnitude), or None."""
    import mpmath
    import sympy

    from derivcmp import sympy_bridge

    formula = sympy_bridge.derivative(sympy_bridge.to_sympy(problem.expr), problem.wrt, problem.order)
    subs = {sympy_bridge.symbol(k): sympy.Rational(float(v)) for k, v in problem.point.items()}
    flat = [x for row in (formula if isinstance(formula, list) else [formula])
            for x in (row if isinstance(row, list) else [row])]
    for f in flat:
        for node in sympy.preorder_traversal(f):
            if node.is_Atom:
                continue
            try:
                v = node.xreplace(subs).evalf(20)
                big = v.is_number and v.is_finite is not False and abs(v) >= 1e300
            except (TypeError, ValueError, AttributeError, OverflowError):
                continue
            if big or v in (sympy.oo, -sympy.oo, sympy.zoo):
                return f"{str(node)[:60]} is {mpmath.nstr(mpmath.mpf(sympy.Float(v, 20)._mpf_), 3) if big else v} here"
    return None


def intermediate_underflow(program, point) -> str | None:
    """Which node of the expression is nonzero exactly but below float64's
    normal range (2.2e-308) at the point, or None: float64 loses it (z^2 at
    z = 1e-228 is 0, which may put a following abs on its kink)."""
    import mpmath

    from derivcmp.primitives import CONSTANTS
    from derivcmp.program import CONST, INPUT, OP, describe

    vals = []
    # enough digits to see 1 + y - 1 for the smallest input y (log10(exp(y)) at y = 1e-135)
    with mpmath.workdps(_judge_digits(point)):
        for slot in program.slots:
            if slot.kind == INPUT:
                vals.append(mpmath.mpf(float(point[slot.name])))
            elif slot.kind == CONST:
                node = slot.node
                vals.append(mpmath.mpf(node.text) if hasattr(node, "text") else CONSTANTS[node.name][1]())
            else:
                try:
                    v = slot.prim.mp(*[vals[a] for a in slot.args])
                except (ValueError, ZeroDivisionError, OverflowError):
                    return None
                if isinstance(v, mpmath.mpc):
                    return None
                if slot.kind == OP and v != 0 and abs(v) < mpmath.mpf(2.2250738585072014e-308):
                    return f"{describe(slot.node)} is {mpmath.nstr(v, 3)}, below float64's normal range"
                vals.append(v)
    return None
