"""The fast path of email normalisation gives exactly what the validator gives."""

from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from messagehub_tui.addresses import InvalidAddress, normalise_email

LOCAL = st.text(st.sampled_from("abcXYZ019.!#$%&'*+/=?^_`{|}~-\"@ ()é"), min_size=0, max_size=70)
DOMAIN = st.one_of(
    st.sampled_from(["example.com", "EXAMPLE.org", "xn--bcher-kva.example", "bücher.example",
                     "localhost", "a.b", "-bad.com", "ex..com", "1.2.3.4", "[1.2.3.4]",
                     "x" * 64 + ".com", ("a" * 60 + ".") * 4 + "com", "example.test"]),
    st.text(st.sampled_from("abc-.1é"), max_size=20))


def slow(raw: str) -> str | None:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def fast(raw: str) -> str | None:
    try:
        return normalise_email(raw)
    except InvalidAddress:
        return None


@settings(max_examples=400, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(local=LOCAL, domain=DOMAIN, padding=st.sampled_from(["", " ", "\t"]))
@example(local="a" * 64, domain="x" * 63 + ".com", padding="")
@example(local="a" * 65, domain="example.com", padding="")
@example(local="Postmaster", domain="Example.COM", padding=" ")
def test_fast_path_equals_the_validator(local, domain, padding):
    raw = f"{padding}{local}@{domain}{padding}"
    assert fast(raw) == slow(raw)
