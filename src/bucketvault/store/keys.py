"""Object keys are opaque strings; this module defines the only order they are listed in."""

from __future__ import annotations


def sort_key(key: str) -> bytes:
    """S3 lists keys in the order of their UTF-8 bytes; so does every bucketvault store.

    `surrogatepass` keeps lone surrogates (which a broken client may have written)
    comparable instead of crashing the listing.
    """
    return key.encode("utf-8", "surrogatepass")
