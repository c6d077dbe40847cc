"""A render path planned once per template: text and `{{ variable }}` (through pure filters)
joined without Jinja's per-message context, with markupsafe escaping only the variables of an
HTML part. It proves its templates from Jinja's own parse tree (whitespace control and trailing
newlines are already applied there) and anything it cannot prove stays with Jinja; at render
time any surprise (a missing variable, a failing filter) also goes back to Jinja, which then
gives the same output or error it always gave."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from jinja2 import nodes
from markupsafe import escape

# filters that depend only on their arguments: no context, no environment, no autoescape state
PURE_FILTERS = frozenset({"upper", "lower", "title", "capitalize", "trim", "default", "d",
                          "string", "e", "escape"})
# Filters one variable may pass through in a plan: Jinja compiles a chain into nested calls,
# and a few hundred exceed Python's nesting limit. A plan always compiles (validation relies on
# it); a longer chain is Jinja's to compile, or to refuse as nesting too deeply.
MAX_FILTERS = 32
# names Jinja's code generator resolves itself rather than from the variables
_SPECIAL_NAMES = frozenset({"self", "loop", "caller", "varargs", "kwargs", "super"})


class Fallback(Exception):
    """This template or this render is Jinja's to do."""


def _filters(node: nodes.Node | None) -> tuple[str, list]:
    """The variable under a chain of pure filters, and the filters innermost first."""
    chain = []
    while isinstance(node, nodes.Filter):
        args = [arg.value for arg in node.args if isinstance(arg, nodes.Const)]
        if node.name not in PURE_FILTERS or node.kwargs or node.dyn_args or node.dyn_kwargs \
                or len(args) != len(node.args):
            raise Fallback
        chain.append((node.name, tuple(args)))
        if len(chain) > MAX_FILTERS:
            raise Fallback
        node = node.node
    if not isinstance(node, nodes.Name) or node.ctx != "load" or node.name in _SPECIAL_NAMES:
        raise Fallback
    return node.name, chain[::-1]


def _getter(keys: list) -> Callable[[Any], Sequence]:
    """What `keys` index in a container, in order, as a sequence (itemgetter of one key gives
    the value itself, of none is not allowed)."""
    if len(keys) > 1:
        return itemgetter(*keys)
    return lambda container: [container[key] for key in keys]


class FastTemplate:
    """A template of text and variables: each distinct variable (with its filters) is worked
    out and escaped once per message, then the text and the values are joined in order."""

    def __init__(self, texts: list[str], slots: list[int], values: list, html: bool):
        self._texts = texts  # the text before each slot, and after the last one
        self._values = values
        # Without filters (the common case) the values are looked up by one C call, and so are
        # the slots' values in order: comprehensions were a tenth of composing a message.
        self._lookup = None if any(chain for _, chain in values) else \
            _getter([name for name, _ in values])
        self._pick = _getter(slots)
        self.names = frozenset(name for name, _ in values)  # every variable it reads
        self._html = html
        self._parts = 2 * len(slots) + 1
        # The texts with CRLF line ends, for a body rendered straight into its wire form (no
        # pass over the whole output to convert them, nor to look for lines that begin with a
        # dot); not when a text holds a CR, whose line end may meet a value's.
        self._wire_texts = None if any("\r" in text for text in texts) else \
            [text.replace("\n", "\r\n") for text in texts]
        self._newlines = sum(text.count("\n") for text in texts)
        # A line can begin with a dot only in a text, or with a value that begins a line: one
        # after a line end, at the very start, or after another value (which may be empty).
        self._dotted_text = texts[0].startswith(".") or any("\n." in text for text in texts)
        self._line_starts = sorted({slot for slot, before in zip(slots, texts, strict=False)
                                    if before == "" or before.endswith("\n")})
        # The most text and the most slots a line has: with values of at most m characters and
        # no line break, no line is longer than widest + most_slots * m (no need to measure).
        shapes, text_on_line, slots_on_line = [], 0, 0
        for index, text in enumerate(texts):
            first, *rest = text.split("\n")
            text_on_line += len(first)
            for piece in rest:
                shapes.append((text_on_line, slots_on_line))
                text_on_line, slots_on_line = len(piece), 0
            slots_on_line += index < len(slots)
        shapes.append((text_on_line, slots_on_line))
        self._widest = max(text for text, _ in shapes)
        self._most_slots = max(count for _, count in shapes)

    def _fill(self, variables: dict) -> list[str]:
        """Each distinct value's text; Fallback (to Jinja) on anything but plain success."""
        try:
            if self._lookup is not None:
                values = self._lookup(variables)
            else:
                values = []
                for name, chain in self._values:
                    value = variables[name]
                    for function, args in chain:
                        value = function(value, *args)
                    values.append(value)
            # exactly what Jinja's generated code does with an output expression
            return [escape(value) for value in values] if self._html else \
                [str(value) for value in values]
        except Exception:
            raise Fallback from None

    def _join(self, texts: list[str], filled: list[str]) -> str:
        # slices and one join (str.format took 2-3 times as long: it parses the layout anew)
        parts = [""] * self._parts
        parts[::2] = texts
        parts[1::2] = self._pick(filled)
        return "".join(parts)

    def render(self, variables: dict) -> str:
        """The output; Fallback (to Jinja) on anything that is not plain success."""
        return self._join(self._texts, self._fill(variables))

    def render_wire(self, variables: dict) -> tuple[str, int, bool, int]:
        """The output with CRLF line ends, the length `render` gives, whether a line may begin
        with a dot (False: none does), and a bound on its longest line (its CR aside). Fallback
        when a value holds a line break or a text a CR: then `render` is the way."""
        filled = self._fill(variables)
        values = "".join(filled)  # two searches in C rather than a Python step per value
        if self._wire_texts is None or "\n" in values or "\r" in values:
            raise Fallback
        dotted = self._dotted_text
        if self._line_starts and not dotted:
            dotted = any(not filled[slot] or filled[slot][0] == "." for slot in self._line_starts)
        wire = self._join(self._wire_texts, filled)
        longest = self._widest + self._most_slots * max(map(len, filled), default=0)
        return wire, len(wire) - self._newlines, dotted, longest


def plan(tree: nodes.Template, filters: dict, html: bool) -> FastTemplate | None:
    """The fast form of a parsed template, or None when Jinja must render it."""
    texts = [""]
    slots: list[int] = []
    values: dict[tuple, int] = {}
    try:
        for statement in tree.body:
            if not isinstance(statement, nodes.Output):
                raise Fallback
            for node in statement.nodes:
                if isinstance(node, nodes.TemplateData):
                    texts[-1] += node.data
                    continue
                name, chain = _filters(node)
                key = (name, tuple((filters[f], args) for f, args in chain))
                slots.append(values.setdefault(key, len(values)))
                texts.append("")
    except Fallback:
        return None
    return FastTemplate(texts, slots, list(values), html)
