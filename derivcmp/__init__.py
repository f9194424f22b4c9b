"""derivcmp: compare symbolic, finite-difference and automatic differentiation.

    >>> from derivcmp import compare_text
    >>> c = compare_text("1/(1+exp(-w*x))", wrt="w", at="w=2,x=3", timing=False)
    >>> [(g.name, g.outcome.status) for g in c.results]
    [('symbolic', 'ok'), ('fd-central', 'ok'), ('ad-reverse', 'ok')]
"""

__version__ = "0.1.0"

from .compare import compare, compare_text, make_problem
from .errors import DerivcmpError, ParseError
from .expr import parse, to_text

__all__ = [
           "DerivcmpError",
           "ParseError",
           "__version__",
           "compare",
           "compare_text",
           "make_problem",
           "parse",
           "to_text",
]
