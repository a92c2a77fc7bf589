"""The one key order (UTF-8 bytes), and its string form for comparing in memory."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bucketvault.store.keys import order_key, order_keys, sort_key

# any code point, lone surrogates included (a broken client may have written them)
_keys = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12)


@settings(max_examples=2000)
@given(_keys, _keys)
@example("a", "é")
@example("\uffff", "\U00010000")  # UTF-16 and code point order agree; here bytes too
@example("\ud800", "\ue000")  # a lone surrogate sorts by its surrogatepass bytes
@example("z", "\x80")
def test_order_keys_compare_as_utf8_bytes(a: str, b: str) -> None:
    assert (order_key(a) < order_key(b)) == (sort_key(a) < sort_key(b))
    assert (order_key(a) == order_key(b)) == (a == b)


def test_an_ascii_key_is_its_own_order_key() -> None:
    key = "photos/2026/12/IMG_0001.jpg"
    assert order_key(key) is key


@settings(max_examples=500)
@given(st.lists(_keys, max_size=8))
@example(["a", "b"])
@example(["a", "é"])
def test_a_batch_of_order_keys_is_each_keys_order_key(keys: list[str]) -> None:
    assert order_keys(keys) == [order_key(key) for key in keys]
