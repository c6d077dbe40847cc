"""Email bytes parse back to what EmailMessage would carry; SMS segments; template checks."""

import email
import threading
import time
from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from messagehub_tui.compose import Composer, RenderError, check_template, sms_info
from messagehub_tui.errors import TemplateProblem

VARS = {"first_name": "Zoë", "last_name": "Dupré", "email": "zoe@example.com", "phone": "",
        "city": "Zürich"}


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)


def content(part) -> str:
    """A part's text with the wire's CRLF line ends folded to LF, as EmailMessage holds it."""
    return part.get_content().replace("\r\n", "\n")


def reference(subject: str, text: str, html: str | None) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def assert_wire_rules(data: bytes) -> None:
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert data.isascii()


def test_multipart_with_non_ascii_everywhere():
    composer = Composer("email", "Grüße {{ first_name }} aus {{ city }}\n.leading dot\n",
                        subject="Hallo {{ first_name }} ✓", html="<p>Grüße {{ first_name }}</p>",
                        sender="Bücher Team <news@example.com>",
                        unsubscribe="mailto:u@example.com, https://example.com/u/{{ email }}")
    data = composer.email_bytes(VARS, "zoe@example.com", "m1")
    assert_wire_rules(data)
    parsed = parse(data)
    expected = reference("Hallo Zoë ✓", "Grüße Zoë aus Zürich\n.leading dot\n",
                         "<p>Grüße Zoë</p>\n")
    assert parsed["Subject"] == expected["Subject"]
    assert parsed["To"].addresses[0].display_name == "Zoë Dupré"
    assert parsed["To"].addresses[0].addr_spec == "zoe@example.com"
    assert parsed["From"].addresses[0].display_name == "Bücher Team"
    assert parsed["Message-ID"] == "<m1@example.com>"
    assert parsed.get_content_type() == "multipart/alternative"
    for kind in ("plain", "html"):
        assert content(parsed.get_body((kind,))) == expected.get_body((kind,)).get_content()
    assert parsed["List-Unsubscribe"] == \
        "<mailto:u@example.com>, <https://example.com/u/zoe@example.com>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_plain_ascii_stays_7bit_and_long_lines_are_encoded():
    composer = Composer("email", "{{ line }}\n", subject="s", sender="a@example.com")
    short = composer.email_bytes({**VARS, "line": "hello"}, "b@example.com", "x")
    assert b"Content-Transfer-Encoding: 7bit" in short
    long_line = "word " * 400
    data = composer.email_bytes({**VARS, "line": long_line}, "b@example.com", "x")
    assert_wire_rules(data)
    assert b"quoted-printable" in data
    assert content(parse(data)) == long_line + "\n"


def test_html_is_autoescaped_text_is_not():
    composer = Composer("email", "{{ first_name }}", subject="s", html="{{ first_name }}",
                        sender="a@example.com")
    parsed = parse(composer.email_bytes({**VARS, "first_name": "<b>&"}, "b@example.com", "x"))
    assert parsed.get_body(("plain",)).get_content().strip() == "<b>&"
    assert parsed.get_body(("html",)).get_content().strip() == "&lt;b&gt;&amp;"


@pytest.mark.parametrize("field", ["first_name", "city"])
def test_line_breaks_in_header_values_are_refused(field):
    composer = Composer("email", "b", subject="Hi {{ city }}", sender="a@example.com")
    with pytest.raises(RenderError, match="contains a line break"):
        composer.email_bytes({**VARS, field: "x\r\nBcc: evil@example.com"}, "b@example.com", "x")


@hsettings(max_examples=150, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"),
                    max_size=3000),
       subject=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=200))
def test_any_body_and_subject_round_trip(text, subject):
    composer = Composer("email", "{{ body }}", subject="{{ subject }}", sender="a@example.com")
    data = composer.email_bytes({**VARS, "body": text, "subject": subject}, "b@example.com", "x")
    assert_wire_rules(data)
    parsed = parse(data)
    expected_body = text if text.endswith("\n") else text + "\n"
    assert content(parsed) == expected_body
    assert parsed["Subject"] == reference(subject.strip(), "x", None)["Subject"]


@pytest.mark.parametrize("text, encoding, segments", [
    ("a" * 160, "GSM-7", 1), ("a" * 161, "GSM-7", 2), ("a" * 306, "GSM-7", 2),
    ("a" * 307, "GSM-7", 3), ("€" * 80, "GSM-7", 1), ("€" * 81, "GSM-7", 2),
    ("é" * 160, "GSM-7", 1), ("ж" * 70, "UCS-2", 1), ("ж" * 71, "UCS-2", 2),
    ("😀" * 35, "UCS-2", 1), ("", "GSM-7", 0),
])
def test_sms_segments(text, encoding, segments):
    info = sms_info(text)
    assert (info.encoding, info.segments) == (encoding, segments)


def test_template_errors_name_the_line():
    with pytest.raises(TemplateProblem, match=r"body: line 2: .*"):
        check_template("ok\n{% if %}\n", "body", {"first_name"})
    with pytest.raises(TemplateProblem, match=r"subject: line 3: no recipient can supply "
                                              r"the variable 'nickname'"):
        check_template("a\n{{ first_name }}\n{{ nickname }}", "subject", {"first_name"})
    check_template("{% set x = 1 %}{{ x }}{% for i in [1] %}{{ i }}{% endfor %}", "body", set())


def test_sandbox_blocks_unsafe_attribute_access():
    composer = Composer("sms", "{{ first_name.__class__.__mro__ }}")
    with pytest.raises(RenderError, match="^body: access to attribute '__class__' of 'str' "
                                          "object is unsafe.$"):
        composer.sms_text(VARS)


@pytest.mark.parametrize("body, reason", [
    ("{{ 1000 // (score|int) }}", "integer division or modulo by zero (ZeroDivisionError)"),
    ("{{ (score|int) / 0.0 }}", "float division by zero (ZeroDivisionError)"),
    ("{{ 10.0 ** 400 }}", "(34, 'Numerical result out of range') (OverflowError)"),
    ("{{ score.rjust }}{{ [1, 2][5] }}", "list object has no element 5"),
    ("{{ '%d' % 'x' }}", "%d format: a real number is required, not str (TypeError)"),
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "the template recurses too "
                                                               "deeply"),
    ("{{ range(10**9)|length }}", "range of 1,000,000,000 numbers is larger than the limit of "
                                  "100,000"),
    ("{{ 'x' * 10**10 }}", "the repeated value is larger than the limit of 2,000,000 characters"),
    ("{{ 10 ** 1000000 }}", "10 ** 1000000 is too large a number"),
    ("{{ 'x'|center(10**9) }}", "the width 1000000000 is larger than the limit of 2,000,000 "
                                "characters"),
    ("{{ 'x'.ljust(10**9) }}", "the width passed to ljust is larger than the limit"),
    ("{{ '%0999999999d' % 1 }}", "the field width 999999999 is larger than the limit"),
    ("{{ '{:>999999999}'.format(1) }}", "the field width 999999999 is larger than the limit"),
    ("{{ ('x' * 1000) | replace('x', 'x' * 1000) | replace('x', 'x' * 1000) }}",
     "the replaced text is larger than the limit"),
    ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
     "{% endfor %}", "a value of 2,097,152 items is larger than the limit"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
     "the output is larger than the limit of 2,000,000 characters"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
     "rendering took more than 1 s of CPU time; does a loop in the template run too long?"),
    ("{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
     "rendering took more than 1 s of CPU time"),
])
def test_whatever_fails_in_a_render_is_one_clear_render_error(body, reason):
    composer = Composer("sms", body)
    started = time.process_time()
    with pytest.raises(RenderError) as caught:
        composer.sms_text({**VARS, "score": "0"})
    assert str(caught.value).startswith(f"body: {reason}")
    assert time.process_time() - started < 3


def test_the_time_limit_holds_in_a_thread_too():
    composer = Composer("sms", "{% for i in range(100000) %}{% for j in range(100000) %}"
                               "{% endfor %}{% endfor %}")
    failure = []

    def render():
        try:
            composer.sms_text(VARS)
        except RenderError as exc:
            failure.append(str(exc))
    worker = threading.Thread(target=render)
    worker.start()
    worker.join(timeout=30)
    assert failure == ["body: rendering took more than 1 s of CPU time; does a loop in the "
                       "template run too long?"]


@pytest.mark.parametrize("source", [
    "{{ " + "(" * 1000 + "1" + ")" * 1000 + " }}",
    "{% for a in [1] %}" * 25 + "x" + "{% endfor %}" * 25,
    "{% if x %}" * 400 + "x" + "{% endif %}" * 400,
    # plain text and a variable, the fast render's kind, but a chain of filters Jinja compiles
    # into more nested calls than Python takes: the fast plan must not vouch for it
    pytest.param("{{ x" + "|upper" * 250 + " }}", id="250-filters"),
])
def test_deeply_nested_templates_are_refused_clearly(source):
    with pytest.raises(TemplateProblem, match="^body: the template nests too deeply$"):
        check_template(source, "body", {"x"})
    with pytest.raises(TemplateProblem, match="^body: the template nests too deeply$"):
        Composer("sms", source)


def test_ordinary_templates_are_not_hindered_by_the_limits():
    composer = Composer("sms", "{{ '%s'|format(1) }} {{ range(5)|list }} {{ range(5)|length }} "
                               "{{ 'a'.replace('a', 'b') }} {{ 2 ** 10 }} {{ 'ab' * 3 }} "
                               "{{ '%5d' % 3 }} {{ '{:,}'.format(12345678) }} "
                               "{{ ('x' * 10000) | length }}")
    assert composer.sms_text(VARS) == "1 [0, 1, 2, 3, 4] 5 b 1024 ababab     3 12,345,678 10000"


@hsettings(max_examples=1000, deadline=None)
@given(value=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=120),
       name=st.sampled_from(["Subject", "X-A-Rather-Long-Header-Name-For-Folding"]))
def test_header_encoding_is_exactly_what_email_header_makes(value, name):
    from email.header import Header

    from messagehub_tui.compose import encode_header
    expected = value if value.isascii() and len(value) + len(name) + 2 <= 998 else \
        Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    assert encode_header(name, value) == expected


def test_a_template_whose_own_text_passes_the_output_limit_is_refused():
    # Every recipient's message would fail at send time ("the output is larger than the
    # limit"): the walk found such a body accepted by create and all 30 deliveries failed.
    line = "y" * 70 + "\n"
    with pytest.raises(TemplateProblem, match=r"^body: its text is 2,130,004 characters, over "
                                              r"the limit of 2,000,000 for one message$"):
        check_template("Hi {{ first_name }}\n" + line * 30_000, "body", {"first_name"})
    # text that only some recipients get, and text just under the limit, are not refused here
    check_template("{% if first_name %}" + line * 30_000 + "{% endif %}", "body", {"first_name"})
    check_template("{{ first_name }}" + line * 28_000, "body", {"first_name"})


@hsettings(max_examples=300)
@given(name=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40))
def test_an_address_header_is_exactly_what_formataddr_makes(name):
    from email.utils import formataddr

    from messagehub_tui.compose import encode_address
    assert encode_address(name, "zoe@example.com", "To") == \
        formataddr((name, "zoe@example.com"), charset="utf-8")


@hsettings(max_examples=300)
@given(lines=st.lists(st.integers(min_value=0, max_value=1500), max_size=8),
       extra=st.sampled_from([0, 1]))
def test_the_long_line_check_agrees_with_measuring_every_line(lines, extra):
    from messagehub_tui.mime import MAX_LINE, lines_fit
    text = "\n".join("x" * length for length in lines)
    limit = MAX_LINE + extra  # + 1: the wire form's lines keep their CR
    assert lines_fit(text, limit) == (max(map(len, text.split("\n"))) <= limit)
