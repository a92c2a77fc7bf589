"""`bucketvault demo` tells its whole story — backup, ransomware, a second backup, a
point-in-time restore, verify — and ends with every bucket as it was before the attack."""

from __future__ import annotations

import pytest

from bucketvault.cli.demo_story import run_demo
from bucketvault.loopback import DEFAULT_SECRET


@pytest.mark.parametrize(
    "server", ["moto", pytest.param("rclone", marks=pytest.mark.slow)]
)  # about 20 s each; rclone (archived copies instead of versions) runs with -m slow
def test_demo_restores_the_state_before_the_attack(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_demo(server)
    out = capsys.readouterr().out
    for shown in (
        "snapshot list",
        "snapshot diff",
        "M 2026/trip/IMG_0003.jpg",
        "- 2026/trip/IMG_0010.jpg",
        "S3_BUCKET=minio-photos",
        "-p AT=",
        "SNAPSHOT=",
        "OVERWRITE=true",
        "+0 ~6 -2",  # snapshot 2 of photos records the attack
        "+2 ~6 -0",  # snapshot 3 records the recovery
        "plan start verify",
    ):
        assert shown in out, shown
    assert DEFAULT_SECRET not in out
    assert "NO " not in out
    assert out.rstrip().endswith(
        "Every restored bucket is identical to the original before the attack."
    )
