"""derivcmp: compare symbolic, finite-difference and automatic differentiation.

    >>> from derivcmp import compare_text
    >>> c = compare_text("1/(1+exp(-w*x))", wrt="w", at="w=2,x=3", timing=False)
    >>> [(g.name, g.outcome.status) for g in c.results]
    [('symbolic', 'ok'), ('fd-central', 'ok'), ('ad-reverse', 'ok')]
"""

__version__ = "0.1.0"

from .compare import compare, compare_text, make_problem  # noqa: E402
from .errors import DerivcmpError, ParseError  # noqa: E402
from .expr import parse, to_text  # noqa: E402

__all__ = ["compare", "compare_text", "make_problem", "parse", "to_text", "DerivcmpError",
           "ParseError", "__version__"]
