"""derivcmp: compare symbolic, finite-difference and automatic differentiation.

    >>> from derivcmp import compare_text
    >>> c = compare_text("1/(1+exp(-w*x))", wrt="w", at="w=2,x=3", timing=False)
    >>> [g.grade for g in c.results][:1]
    ['exact']

Entry points (each documented): ``compare_text`` (one expression, as
``derivcmp eval``), ``make_problem`` + ``compare``, ``load`` (suite files),
``run_batch`` (as ``derivcmp batch``), ``summarize`` and ``check`` (as
``derivcmp check``), ``make_grid_problem`` + ``compare_grid`` (a range of
points, as ``derivcmp eval --at x=a:b:n``).  docs/api.md has a worked example.
"""

__version__ = "0.1.0"

from .compare import DEFAULT_TIMEOUT, compare, compare_text, make_problem
from .errors import DerivcmpError, ParseError
from .expr import parse, to_text


def __getattr__(name: str):
    # the batch entry points import the worker machinery only when used
    if name in ("run_batch", "summarize"):
        from . import batch
        return getattr(batch, name)
    if name == "check":
        from .checks import check
        return check
    if name in ("compare_grid", "make_grid_problem"):
        from . import gridrun
        return getattr(gridrun, name)
    if name == "load":
        from .suite import load
        return load
    raise AttributeError(f"module 'derivcmp' has no attribute {name!r}")


__all__ = [
           "DEFAULT_TIMEOUT",
           "DerivcmpError",
           "ParseError",
           "__version__",
           "check",
           "compare",
           "compare_grid",
           "compare_text",
           "load",
           "make_grid_problem",
           "make_problem",
           "parse",
           "run_batch",
           "summarize",
           "to_text",
]
