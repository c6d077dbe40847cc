"""Jinja2's sandbox with size bounds: no operator, call, filter or `range` may build a value
bigger than a message could be, and rendering stops once the output passes MAX_CHARS."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from jinja2 import StrictUndefined
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from messagehub_tui.errors import MessagehubError
from messagehub_tui.render_limits import MAX_CHARS, check_deadline

# Template values are whatever a contact's columns and Jinja's filters make: Any, checked by size.
Value = TypeVar("Value")

MAX_RANGE = 100_000
MAX_INT_BITS = 100_000
_SIZED = (str, bytes, list, tuple, dict, set, frozenset)
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap"})
# a width or precision in a printf-style (`%`) or str.format field
_PRINTF_FIELD = re.compile(r"%[#0\- +]*(\d*)(?:\.(\d*))?")
_FORMAT_FIELD = re.compile(r"\{[^{}]*:[^{}]*?(\d+)(?:\.(\d+))?[^{}]*\}")


class TooBig(MessagehubError):
    """A template tried to build a value or an output larger than the limits."""


def _too_big(what: str) -> TooBig:
    return TooBig(f"{what} is larger than the limit of {MAX_CHARS:,} characters")


def _check_size(value: Value) -> Value:
    if isinstance(value, _SIZED) and len(value) > MAX_CHARS:
        raise _too_big(f"a value of {len(value):,} items")
    return value


def _check_widths(pattern: re.Pattern[str], text: str) -> None:
    for match in pattern.finditer(text):
        for number in match.groups():
            if number and int(number) > MAX_CHARS:
                raise _too_big(f"the field width {number}")


def _check_replace(text: object, old: object, new: object, count: int | None = -1) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        found = text.count(old) if old else len(text) + 1
        if count is not None and count >= 0:
            found = min(found, count)
        if len(text) + found * (len(new) - len(old)) > MAX_CHARS:
            raise _too_big("the replaced text")


class _Range:
    """`range` for templates: at most MAX_RANGE numbers, checking the deadline as it iterates."""

    def __init__(self, *args: int) -> None:
        self._numbers = range(*args)
        if len(self._numbers) > MAX_RANGE:
            raise TooBig(f"range of {len(self._numbers):,} numbers is larger than the limit of "
                         f"{MAX_RANGE:,}")

    def __iter__(self) -> Iterator[int]:
        for index, number in enumerate(self._numbers):
            if not index & 1023:
                check_deadline()
            yield number

    def __len__(self) -> int:
        return len(self._numbers)

    def __getitem__(self, index: Any) -> Any:  # a number, or a range for a slice
        return self._numbers[index]

    def __contains__(self, number: object) -> bool:
        return number in self._numbers

    def __reversed__(self) -> Iterator[int]:
        return reversed(self._numbers)


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_deadline()
        if name in _WIDTH_FILTERS:
            for value in (*args, *kwargs.values()):
                if type(value) is int and value > MAX_CHARS:
                    raise _too_big(f"the width {value}")
        elif name == "replace":
            _check_replace(*(a for a in args if not isinstance(a, EvalContext)))
        elif name == "format" and args and isinstance(args[0], str):
            _check_widths(_PRINTF_FIELD, args[0])
        return _check_size(func(*args, **kwargs))
    return wrapper


class BoundedEnvironment(SandboxedEnvironment):
    """SandboxedEnvironment whose operators, calls and filters cannot build huge values."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, autoescape: bool) -> None:
        super().__init__(undefined=StrictUndefined, keep_trailing_newline=True,
                         autoescape=autoescape)
        self.globals["range"] = _Range
        self.filters = {name: _bounded_filter(name, func) for name, func in self.filters.items()}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_deadline()
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, _SIZED) and isinstance(times, int) \
                        and len(sequence) * times > MAX_CHARS:
                    raise _too_big("the repeated value")
        elif operator == "**" and isinstance(left, (int, float)) and isinstance(right, int) \
                and abs(left) > 1 and right * math.log2(abs(left)) > MAX_INT_BITS:
            raise TooBig(f"{left} ** {right} is too large a number")
        elif operator == "%" and isinstance(left, str):
            _check_widths(_PRINTF_FIELD, left)
            values = right if isinstance(right, tuple) else (right,)
            if "*" in left and any(type(v) is int and v > MAX_CHARS for v in values):
                raise _too_big("a `*` field width")
        return _check_size(super().call_binop(context, operator, left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        check_deadline()
        name = getattr(obj, "__name__", "")
        if isinstance(getattr(obj, "__self__", None), str):
            if name in _WIDTH_METHODS and any(type(a) is int and a > MAX_CHARS for a in args):
                raise _too_big(f"the width passed to {name}")
            if name == "replace":
                _check_replace(obj.__self__, *args)
        return _check_size(super().call(context, obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        check_deadline()
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        _check_widths(_FORMAT_FIELD, value.__self__)
        return lambda *args, **kwargs: _check_size(wrapper(*args, **kwargs))
