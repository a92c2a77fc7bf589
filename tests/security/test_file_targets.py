"""`file://` targets never write outside their root, through `bucketvault mirror`:
hostile keys (`..`, absolute, reserved names) and symbolic links already in the tree
(directories and files pointing outside, a linked bucket, a linked metadata area).
tests/store/test_local.py covers the store API; this drives the CLI end to end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketvault.errors import ExitCode
from bucketvault.loopback import LoopbackServer
from tests.conftest import boto_client, new_bucket_name
from tests.e2e.helpers import Result, alias_env, run_cli

HOSTILE_KEYS = [
    "../escape",
    "../../escape2",
    "a/../../escape3",
    "a/b/../../../escape4",
    "..",
    "./../escape5",
    "/abs-escape",
    "//abs-escape2",
    "OUTSIDE_ABS",  # replaced by an absolute path into the outside directory
    ".bucketvault/meta/poison.json",
    ".bucketvault-tmp-fake",
    "ok/.bucketvault-tmp-x",
    "a\\..\\..\\backslash",  # a plain file name on POSIX
    "safe.txt",
]


def tree(path: Path) -> dict[str, bytes | str]:
    """Every entry under `path` (without following links): file bytes or link targets."""
    found: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            key = str(full.relative_to(path))
            if full.is_symlink():
                found[key] = "-> " + os.readlink(full)
            elif full.is_file():
                found[key] = full.read_bytes()
    return found


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A directory beside the target root that must never change."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "victim.txt").write_bytes(b"original")
    (path / "sub").mkdir()
    yield path


def mirror(server: LoopbackServer, src: str, dst: str, *flags: str) -> Result:
    return run_cli("mirror", *flags, f"s/{src}", dst, env=alias_env(s=server))


def test_hostile_keys_stay_inside(moto: LoopbackServer, tmp_path: Path, outside: Path) -> None:
    src = new_bucket_name()
    client = boto_client(moto)
    client.create_bucket(Bucket=src)
    keys = [str(outside / "abs.txt") if k == "OUTSIDE_ABS" else k for k in HOSTILE_KEYS]
    for key in keys:
        client.put_object(Bucket=src, Key=key, Body=b"evil:" + key.encode())
    root = tmp_path / "root"
    root.mkdir()
    before_outside = tree(outside)
    before_tmp = {p.name for p in tmp_path.iterdir()} | {"bv-home"}

    result = mirror(moto, src, f"file://{root}/copy", "--overwrite")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    assert tree(outside) == before_outside
    assert {p.name for p in tmp_path.iterdir()} == before_tmp  # nothing new beside root
    written = tree(root / "copy")
    # only the representable keys landed, each exactly where its key says
    assert written["safe.txt"] == b"evil:safe.txt"
    assert written["a\\..\\..\\backslash"] == b"evil:a\\..\\..\\backslash"
    assert not any("escape" in k for k in written), sorted(written)
    assert not any(k.startswith(".bucketvault-tmp") or "/.bucketvault-tmp" in k for k in written)
    assert ".bucketvault/meta/poison.json" not in written
    for key in keys:
        if key not in ("safe.txt", "a\\..\\..\\backslash"):
            assert repr(key)[:40] in result.stderr or key[:40] in result.stderr, key
    assert not (tmp_path / "escape").exists() and not Path("/abs-escape").exists()

    # and back: the copy re-lists only what it holds (no sidecar or temp file as a key)
    back = new_bucket_name()
    again = run_cli("mirror", f"file://{root}/copy", f"s/{back}", env=alias_env(s=moto))
    assert again.exit_code == 0, again.stderr
    listed = [o["Key"] for o in client.list_objects_v2(Bucket=back).get("Contents", [])]
    assert sorted(listed) == sorted(["safe.txt", "a\\..\\..\\backslash"])


def _seed(server: LoopbackServer, keys: dict[str, bytes]) -> str:
    src = new_bucket_name()
    client = boto_client(server)
    client.create_bucket(Bucket=src)
    for key, body in keys.items():
        client.put_object(Bucket=src, Key=key, Body=body)
    return src


def test_symlinked_directories_in_the_target_are_not_followed(
    moto: LoopbackServer, tmp_path: Path, outside: Path
) -> None:
    copy = tmp_path / "root" / "copy"
    copy.mkdir(parents=True)
    os.symlink(outside, copy / "link")  # a directory link to outside
    os.symlink(outside / "sub", copy / "deep")
    (copy / "real").mkdir()
    os.symlink(outside, copy / "real" / "nested-link")
    before = tree(outside)
    src = _seed(
        moto,
        {
            "link/victim.txt": b"evil",
            "link/new.txt": b"evil",
            "deep/x/y.txt": b"evil",
            "real/nested-link/victim.txt": b"evil",
            "fine.txt": b"fine",
        },
    )
    result = mirror(moto, src, f"file://{copy}", "--overwrite")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    assert "symbolic link" in result.stderr
    assert tree(outside) == before
    assert (copy / "fine.txt").read_bytes() == b"fine"


def test_symlinked_files_are_replaced_not_written_through(
    moto: LoopbackServer, tmp_path: Path, outside: Path
) -> None:
    copy = tmp_path / "root" / "copy"
    copy.mkdir(parents=True)
    os.symlink(outside / "victim.txt", copy / "victim.txt")
    src = _seed(moto, {"victim.txt": b"evil"})
    result = mirror(moto, src, f"file://{copy}", "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert (outside / "victim.txt").read_bytes() == b"original"
    assert not (copy / "victim.txt").is_symlink()
    assert (copy / "victim.txt").read_bytes() == b"evil"


def test_remove_never_deletes_through_links(
    moto: LoopbackServer, tmp_path: Path, outside: Path
) -> None:
    copy = tmp_path / "root" / "copy"
    copy.mkdir(parents=True)
    os.symlink(outside, copy / "link")
    os.symlink(outside / "victim.txt", copy / "victim-link")
    (copy / "stale.txt").write_bytes(b"stale")
    before = tree(outside)
    src = _seed(moto, {"keep.txt": b"keep"})
    result = mirror(moto, src, f"file://{copy}", "--remove")
    assert result.exit_code == 0, result.stderr
    assert tree(outside) == before
    assert not (copy / "stale.txt").exists()
    assert (copy / "keep.txt").read_bytes() == b"keep"


def test_symlinked_bucket_and_metadata_area_are_refused(
    moto: LoopbackServer, tmp_path: Path, outside: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "linked-bucket")
    before = tree(outside)
    src = _seed(moto, {"a.txt": b"evil", "sub/b.txt": b"evil"})
    result = mirror(moto, src, f"file://{root}/linked-bucket")
    assert result.exit_code != 0
    assert "linked-bucket" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert tree(outside) == before

    # the bucket is real but its metadata area is a link: sidecars must not go through it
    copy = root / "copy"
    copy.mkdir()
    os.symlink(outside, copy / ".bucketvault")
    result = mirror(moto, src, f"file://{copy}")
    assert result.exit_code == ExitCode.PARTIAL
    assert "symbolic link" in result.stderr
    assert tree(outside) == before


def test_local_source_links_are_not_read(tmp_path: Path, outside: Path) -> None:
    """A `file://` source never exports what its links point to."""
    (outside / "secret.txt").write_bytes(b"top secret")
    src = tmp_path / "root" / "src"
    src.mkdir(parents=True)
    (src / "plain.txt").write_bytes(b"plain")
    os.symlink(outside / "secret.txt", src / "secret-link.txt")
    os.symlink(outside, src / "dir-link")
    result = run_cli("mirror", f"file://{src}", f"file://{tmp_path}/root/dst")
    assert result.exit_code == 0, result.stderr
    copied = tree(tmp_path / "root" / "dst")
    assert copied.pop("plain.txt") == b"plain"
    assert not any(isinstance(v, bytes) and b"top secret" in v for v in copied.values())
    assert all(k.startswith(".bucketvault") for k in copied), sorted(copied)
