"""Content-addressed storage of material bytes: each content once, at ``materials/<ab>/<sha256>``.

Uploads stream into a temporary file in the same directory tree (so the final rename is atomic),
hashed and size-checked on the way; a refused upload leaves nothing behind. A stored file is
never changed, so a crash can at worst leave an unreferenced blob, never a half-written one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CHUNK = 1024 * 1024


class TooLarge(Exception):
    """The upload is larger than allowed."""


@dataclass
class Upload:
    """A received upload in a temporary file, not yet stored."""

    path: Path
    size: int
    sha256: str
    head: bytes


class MaterialStore:
    def __init__(self, data_dir: str | Path):
        self.root = Path(data_dir) / "materials"

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def receive(self, stream: IO[bytes], max_bytes: int, head_bytes: int) -> Upload:
        """Copy ``stream`` into a temporary file, hashing it; raises TooLarge past ``max_bytes``."""
        incoming = self.root / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        digest, size, head = hashlib.sha256(), 0, b""
        handle, name = tempfile.mkstemp(dir=incoming)
        try:
            with os.fdopen(handle, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"larger than {max_bytes} bytes")
                    if len(head) < head_bytes:
                        head += chunk[: head_bytes - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            os.unlink(name)
            raise
        return Upload(Path(name), size, digest.hexdigest(), head)

    def keep(self, upload: Upload) -> Path:
        """Move a received upload to its content address (an identical file may already be there)."""
        target = self.path_of(upload.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(upload.path, target)
        return target

    @staticmethod
    def discard(upload: Upload) -> None:
        upload.path.unlink(missing_ok=True)

    def blobs(self) -> list[tuple[str, Path, float]]:
        """Every stored blob (and leftover incoming file): its name, path and modification time."""
        if not self.root.is_dir():
            return []
        return [(path.name, path, path.stat().st_mtime) for path in self.root.glob("*/*") if path.is_file()]
