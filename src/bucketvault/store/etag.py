"""S3 ETags computed locally: the MD5 of a single-part upload, md5-of-part-md5s-N of a
multipart one. Writers use them to predict what a target must report; readers to check
what a source holds."""

from __future__ import annotations

import hashlib
from typing import Any


class MultipartETag:
    """Recomputes a multipart ETag for one assumed part size."""

    def __init__(self, part_size: int) -> None:
        self.part_size = part_size
        self._digests: list[bytes] = []
        self._current: Any = hashlib.md5()
        self._filled = 0

    def update(self, chunk: bytes | memoryview) -> None:
        view = memoryview(chunk)
        while view:
            room = self.part_size - self._filled
            piece = view[:room]
            self._current.update(piece)
            self._filled += len(piece)
            view = view[len(piece) :]
            if self._filled == self.part_size:
                self._digests.append(self._current.digest())
                self._current = hashlib.md5()
                self._filled = 0

    def hexdigest(self) -> str:
        digests = list(self._digests)
        if self._filled:
            digests.append(self._current.digest())
        return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"
