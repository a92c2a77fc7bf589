"""What a path inside a bucket names — one object, or a folder — the same in `mirror SRC`
and in restore's PREFIX= (`mirror.narrow`): `a/b/` is the folder; `a/b` is the object of
that key, or, when there is none, the folder `a/b/`; never `a/bc`.

moto holds `a/b` and `a/b/c` side by side (a file-backed store cannot), so the
object-and-folder cases (and the backup store of the restore) run there; the
single-object copy runs on both servers.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from bucketvault.errors import ExitCode
from bucketvault.loopback import LoopbackServer
from tests.conftest import boto_client, new_bucket_name
from tests.e2e.conftest import Own
from tests.e2e.helpers import alias_env, put, run_cli

KEYS = ("a/b", "a/b/c", "a/bc", "a/b-old/x", "z")


def keys(server: LoopbackServer, bucket: str) -> list[str]:
    listed = boto_client(server).list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(item["Key"] for item in listed if not item["Key"].startswith(".bucketvault"))


def seeded(server: LoopbackServer, own: Own, names: tuple[str, ...] = KEYS) -> str:
    bucket = own(server, new_bucket_name("src"))
    boto_client(server).create_bucket(Bucket=bucket)
    for key in names:
        put(server, bucket, key, key.encode())
    return bucket


def test_mirror_one_object(s3: LoopbackServer, tmp_path: Path, owned: Own) -> None:
    src = seeded(s3, owned, ("dir/photo.jpg", "dir/photo.jpg.bak", "other"))
    dst = owned(s3, new_bucket_name("dst"))
    env = alias_env(s=s3)
    result = run_cli("mirror", f"s/{src}/dir/photo.jpg", f"s/{dst}", env=env)
    assert result.exit_code == 0, result.stderr
    assert keys(s3, dst) == ["photo.jpg"]  # into the target folder, under its own name
    body = boto_client(s3).get_object(Bucket=dst, Key="photo.jpg")["Body"].read()
    assert body == b"dir/photo.jpg"
    # a target path is a folder
    into = run_cli("mirror", f"s/{src}/dir/photo.jpg", f"s/{dst}/2024", env=env)
    assert into.exit_code == 0, into.stderr
    assert keys(s3, dst) == ["2024/photo.jpg", "photo.jpg"]
    # to a directory; and a dry run names the one object
    local = run_cli("mirror", f"s/{src}/other", f"file://{tmp_path}/copy", env=env)
    assert local.exit_code == 0, local.stderr
    assert (tmp_path / "copy" / "other").read_bytes() == b"other"
    dry = run_cli("mirror", "--dry-run", f"s/{src}/dir/photo.jpg.bak", f"s/{dst}", env=env)
    assert dry.exit_code == 0 and dry.stdout.split() == ["copy", "photo.jpg.bak"], dry.stdout
    # --remove with one object deletes nothing else in the target folder
    removed = run_cli("mirror", "--remove", f"s/{src}/other", f"s/{dst}", env=env)
    assert removed.exit_code == 0, removed.stderr
    assert keys(s3, dst) == ["2024/photo.jpg", "other", "photo.jpg"]


def test_mirror_object_or_folder(moto: LoopbackServer, owned: Own) -> None:
    src = seeded(moto, owned)
    env = alias_env(s=moto)
    cases = {
        "a/b": ["b"],  # the object, not the folder beside it, not a/bc
        "a/b/": ["c"],  # the folder only
        "a/b-old": ["x"],  # no object a/b-old: the folder a/b-old/
        "a/nothing": [],
        "": sorted(KEYS),
    }
    for path, want in cases.items():
        dst = owned(moto, new_bucket_name("dst"))
        source = f"s/{src}/{path}" if path else f"s/{src}"
        result = run_cli("mirror", source, f"s/{dst}", env=env)
        assert result.exit_code == 0, (path, result.stderr)
        got = keys(moto, dst) if want else []
        assert got == want, (path, got)


def test_mirror_overlap_is_judged_by_folders(moto: LoopbackServer, owned: Own) -> None:
    src = seeded(moto, owned)
    env = alias_env(s=moto)
    onto_itself = run_cli("mirror", f"s/{src}/a/b", f"s/{src}/a", env=env)
    assert onto_itself.exit_code == ExitCode.USAGE and "overlap" in onto_itself.stderr
    beside = run_cli("mirror", f"s/{src}/a/b", f"s/{src}/a/b2", env=env)  # `a/b2/` is apart
    assert beside.exit_code == 0, beside.stderr
    assert "a/b2/b" in keys(moto, src)


def test_restore_prefix_follows_the_same_rule(moto: LoopbackServer, owned: Own) -> None:
    service = f"p{uuid.uuid4().hex[:6]}"
    bucket = seeded(moto, owned, ("docs", "docs/a", "docs-old/b", "docsx"))
    owned(moto, f"{service}-{bucket}")  # its backup bucket
    added = run_cli(
        "service", "add", service, "--endpoint", moto.url, "--backup-endpoint", moto.url,
        "--access-key", moto.access_key, "--include-bucket", bucket,
        env={"BUCKETVAULT_SECRET_ACCESS_KEY": moto.secret_key},
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    creds = [
        "-p",
        f"ACCESS_KEY_ID={moto.access_key}",
        "-p",
        f"SECRET_ACCESS_KEY={moto.secret_key}",
    ]
    backed = run_cli(f"--name={service}", "plan", "start", "backup", *creds)
    assert backed.exit_code == 0, backed.stdout + backed.stderr
    cases = {"docs": ["docs"], "docs/": ["docs/a"], "docs-old": ["docs-old/b"], "do": []}
    for prefix, want in cases.items():
        target = owned(moto, new_bucket_name("rst"))
        result = run_cli(
            f"--name={service}", "plan", "start", "restore", *creds,
            "-p", f"S3_BUCKET={service}-{bucket}", "-p", f"TARGET_BUCKET={target}",
            "-p", f"PREFIX={prefix}",
        )  # fmt: skip
        assert result.exit_code == 0, (prefix, result.stdout + result.stderr)
        status = run_cli(f"--name={service}", "plan", "status", "restore", "--json").stdout
        assert json.loads(status)["status"] == "COMPLETE"
        got = keys(moto, target) if want else []
        assert got == want, (prefix, got)
