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
    """Partial derivatives of a primitive up to third order, from sympy's own
    differentiation of the table's sympy form (not from the table's rules),
    as mpmath callables keyed by sorted argument-index tuples."""
    import itertools

    import mpmath
    import sympy

    key = (prim.name, exponent)
    if key in _PARTIALS:
        return _PARTIALS[key]
    syms = sympy.symbols(f"a0:{prim.arity}", real=True)
    # an integer literal exponent is a constant: a^2 differentiated as a^2,
    # not as a^n (whose a-partials sympy writes as n a^n / a, 0/0 at a = 0)
    f = syms[0] ** exponent if exponent is not None else prim.sp(*syms)
    modules = [{"Heaviside": lambda x, h=0.5: mpmath.mpf(h) if x == 0 else mpmath.mpf(x > 0),
                "DiracDelta": lambda *a: mpmath.mpf(0), "sign": mpmath.sign,
                "Max": max, "Min": min}, "mpmath"]
    table = {}
    for n in (1, 2, 3):
        for idx in itertools.combinations_with_replacement(range(prim.arity), n):
            d = sympy.diff(f, *[syms[i] for i in idx])
            table[idx] = sympy.lambdify(syms, d, modules=modules)
    _PARTIALS[key] = table
    return table


_PARTIALS: dict = {}


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
    with mpmath.workdps(40):
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
        return float(max(err, default=0))
