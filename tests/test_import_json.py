"""Attributes are stored as the JSON encoder writes them, by the import's fast path too."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from messagehub_tui.importstore import _to_json

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True

ENCODER = json.JSONEncoder(ensure_ascii=False)
TEXT = st.text(st.characters(), max_size=12)  # any code point: quotes, controls, astral, é
VALUES = st.one_of(TEXT, st.integers(), st.floats(allow_nan=False), st.none(), st.booleans(),
                   st.lists(TEXT, max_size=2))


@settings(max_examples=500, deadline=None, database=None)
@given(st.dictionaries(TEXT, TEXT, max_size=6))
def test_text_attributes_are_written_as_the_encoder_writes_them(attributes):
    assert _to_json(attributes) == ENCODER.encode(attributes)


@settings(max_examples=300, deadline=None, database=None)
@given(st.dictionaries(st.one_of(TEXT, st.integers()), VALUES, max_size=4))
def test_other_values_go_to_the_encoder(attributes):
    assert _to_json(attributes) == ENCODER.encode(attributes)


def test_known_cases():
    assert _to_json({}) == "{}"
    assert _to_json({"city": "Paris", "plan": "free"}) == '{"city": "Paris", "plan": "free"}'
    assert _to_json({"q": 'say "hi"\n', "é": "\u2028\x00"}) == \
        ENCODER.encode({"q": 'say "hi"\n', "é": "\u2028\x00"})
