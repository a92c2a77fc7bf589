"""Object keys are opaque strings; this module defines the only order they are listed in."""

from __future__ import annotations


def sort_key(key: str) -> bytes:
    """S3 lists keys in the order of their UTF-8 bytes; so does every bucketvault store.

    `surrogatepass` keeps lone surrogates (which a broken client may have written)
    comparable instead of crashing the listing.
    """
    return key.encode("utf-8", "surrogatepass")


def order_key(key: str) -> str:
    """`sort_key`'s order as a string, for comparing keys in memory at no cost for most
    keys: an ASCII key is its own order key (Python compares strings by code point, and
    an ASCII character's code point is its UTF-8 byte); any other key is its UTF-8 bytes
    read as Latin-1, one code point per byte, so that strings compare as the bytes do.
    Order keys of different keys compare only with each other, never with `sort_key`s."""
    return key if key.isascii() else key.encode("utf-8", "surrogatepass").decode("latin-1")


def order_keys(keys: list[str]) -> list[str]:
    """`order_key` of each key; a batch of ASCII keys (nearly every listing page) is
    checked in one pass and is its own list of order keys."""
    if "".join(keys).isascii():
        return keys
    return [order_key(key) for key in keys]
