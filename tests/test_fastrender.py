"""The fast render path gives the Jinja2 sandbox's output byte for byte, or leaves it to Jinja."""

import re

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from jinja2 import StrictUndefined, meta
from jinja2.exceptions import UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from messagehub_tui.compose import Composer, RenderError, _body_part, _compile, _render
from messagehub_tui.fastrender import Fallback
from messagehub_tui.mime import encode_body

NAMES = ["first_name", "last_name", "city", "email", "code"]
FAST_FILTERS = ["upper", "lower", "title", "capitalize", "trim", "e", "escape", "string",
                "default('x')", "d('<y> & z')", "default('', true)"]
SLOW_PIECES = ["{{ first_name ~ city }}", "{% if city %}[{{ city }}]{% endif %}",
               "{{ city|replace('a', '<b>') }}", "{{ city|length }}", "{{ email|upper|length }}",
               "{{ 'const' }}", "{# a comment #}", "{% raw %}{{ x }}{% endraw %}"]  # last 2: fast

values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=25) | st.sampled_from(
    ["", " ", "<b>&amp;\"'</b>", "Zoë", "\r\n", "{{ x }}", "  padded  ", "ǅungla"])
literal = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="{}"),
                  max_size=15)


@st.composite
def variable(draw) -> str:
    name = draw(st.sampled_from(NAMES))
    chain = "".join(f"|{f}" for f in draw(st.lists(st.sampled_from(FAST_FILTERS), max_size=3)))
    left = draw(st.sampled_from(["{{ ", "{{- ", "{{"]))
    right = draw(st.sampled_from([" }}", " -}}", "}}"]))
    return f"{left}{name}{chain}{right}"


def template(slow: bool):
    piece = literal | variable() | (st.sampled_from(SLOW_PIECES) if slow else st.nothing())
    return st.lists(piece, max_size=8).map("".join)


def reference(source: str, variables: dict, html: bool) -> str:
    """What the plain Jinja2 sandbox makes of it: the output, or the undefined error."""
    env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True,
                               autoescape=html)
    try:
        return env.from_string(source).render(variables)
    except UndefinedError as exc:
        return f"error: body: {exc.message}"


def ours(source: str, variables: dict, html: bool) -> str:
    try:
        return _render(_compile(source, "body", html), variables, "body")
    except RenderError as exc:
        return f"error: {exc}"


@hsettings(max_examples=400, deadline=None)
@given(source=template(slow=False), contact=st.dictionaries(st.sampled_from(NAMES), values),
       html=st.booleans())
def test_fast_path_output_equals_the_sandbox_byte_for_byte(source, contact, html):
    assert _compile(source, "body", html).fast is not None, source
    assert ours(source, contact, html) == reference(source, contact, html)


@hsettings(max_examples=200, deadline=None)
@given(source=template(slow=False), html=st.booleans())
def test_a_plan_reads_the_variables_jinja_says_the_template_needs(source, html):
    """Validation takes the plan's variables instead of asking Jinja (which generates the
    template's code to answer)."""
    compiled = _compile(source, "body", html)
    assert compiled.fast is not None, source
    assert compiled.fast.names == meta.find_undeclared_variables(compiled.tree)


@hsettings(max_examples=200, deadline=None)
@given(source=template(slow=True), contact=st.dictionaries(st.sampled_from(NAMES), values),
       html=st.booleans())
def test_templates_the_fast_path_cannot_prove_render_as_before(source, contact, html):
    assert ours(source, contact, html) == reference(source, contact, html)


@pytest.mark.parametrize("source", SLOW_PIECES[:-2] + [
    "{% for c in city %}{{ c }}{% endfor %}", "{{ city|truncate(3) }}", "{{ self }}",
    "{{ city.upper() }}", "{{ city[0] }}", "{{ city|default(first_name) }}"])
def test_what_the_fast_path_cannot_prove_goes_to_jinja(source):
    assert _compile(source, "body").fast is None


def test_a_whole_email_is_the_same_on_either_path():
    composer = Composer("email", "Hi {{ first_name|title }},\n{{ city }}\n",
                        subject="{{ first_name }} ✓", html="<p>{{ first_name }} & {{ city }}</p>",
                        sender="a@example.com")
    assert all(t.fast is not None for t in (composer._body, composer._subject, composer._html))
    variables = {"first_name": "<zoë>", "city": "Zürich & co", "email": "z@example.com"}
    fast = composer.email_bytes(variables, "z@example.com", "m1")
    for compiled in (composer._body, composer._subject, composer._html):
        compiled.fast = None
    slow = composer.email_bytes(variables, "z@example.com", "m1")
    assert _without_date(fast) == _without_date(slow)
    assert b"<p>&lt;zo=C3=AB&gt; & Z=C3=BCrich &amp; co</p>" in fast


def _without_date(data: bytes) -> bytes:
    return b"\r\n".join(line for line in data.split(b"\r\n") if not line.startswith(b"Date: "))


# lines that begin with a dot, line breaks in values and texts, long lines, non-ASCII
WIRE_VALUES = values | st.sampled_from([".", ".hidden", "a\nb", "x\r", "\n.", "é", "x" * 1200,
                                        "w" * 300])
WIRE_LITERALS = literal | st.sampled_from(["\n", "\n.", ".", "\r\n", "\r", "a\n\n", "." * 3,
                                           "y" * 500, "\n" + "z" * 700])


@st.composite
def wire_template(draw) -> str:
    return "".join(draw(st.lists(WIRE_LITERALS | variable(), max_size=8)))


@hsettings(max_examples=400, deadline=None)
@given(source=wire_template(), contact=st.dictionaries(st.sampled_from(NAMES), WIRE_VALUES),
       html=st.booleans())
def test_a_body_rendered_straight_to_the_wire_is_encode_body_of_the_render(source, contact,
                                                                           html):
    """The wire path (CRLF texts, no pass over the output) gives exactly encode_body's bytes,
    and when it says no line begins with a dot, none does: DATA then skips dot-stuffing."""
    compiled = _compile(source, "body", html)
    try:
        expected = encode_body(_render(compiled, contact, "body"))
    except RenderError as exc:
        with pytest.raises(RenderError, match=re.escape(str(exc))):
            _body_part(compiled, contact, "body")
        return
    cte, data, dotted = _body_part(compiled, contact, "body")
    assert (cte, data) == expected
    if not dotted:
        assert not data.startswith(b".") and b"\n." not in data


def test_the_wire_path_is_taken_for_plain_values_and_knows_dot_lines():
    compiled = _compile("Hi {{ first_name }},\n{{ city }}\n.sig\n", "body")
    assert compiled.fast is not None
    assert compiled.fast.render_wire({"first_name": "Zoe", "city": "Oslo"})[2]  # ".sig"
    plain = _compile("Hi {{ first_name }},\n{{ city }} and more\n", "body").fast
    assert plain is not None
    wire, length, dotted, longest = plain.render_wire({"first_name": "Zoe", "city": "Oslo"})
    assert wire == "Hi Zoe,\r\nOslo and more\r\n" and length == len(wire) - 2 and not dotted
    assert longest == len(" and more") + len("Oslo")  # the most text, the most slots: line 2
    # a value that begins a line: a dot there, or an empty one (the next text may begin with
    # a dot), may make a dot line
    assert plain.render_wire({"first_name": "Zoe", "city": ".Oslo"})[2]
    assert plain.render_wire({"first_name": "Zoe", "city": ""})[2]
    with pytest.raises(Fallback):  # a line break in a value: the general way
        plain.render_wire({"first_name": "Zoe", "city": "Os\nlo"})


def test_jinja_compiles_a_planned_template_only_when_a_render_falls_back():
    """A runner starts without generating Jinja's code for templates the plan renders; a value
    the plan cannot take still gets Jinja's own output or error."""
    compiled = _compile("Hi {{ first_name }}", "body")
    assert _render(compiled, {"first_name": "Zoe"}, "body") == "Hi Zoe"
    assert compiled._jinja is None
    with pytest.raises(RenderError, match="'first_name' is undefined"):
        _render(compiled, {}, "body")
    assert compiled._jinja is not None
    assert _compile("{% if x %}{% endif %}", "body")._jinja is not None  # no plan: at once
