"""Client CPU of one SigV4 signature, and the import each signer costs at start-up.

Signers: bucketvault's (`store/sigv4.py`: hashlib and hmac), awscrt's C signer (what
`s3_wire` used before), botocore's `S3SigV4Auth`. The last two are measured when they
are installed (`pip install -e '.[bench]'` brings awscrt; botocore comes with moto).
Every signer signs the same PUT of an object with user metadata, in rounds that take
turns; medians of the rounds. Imports are timed in fresh interpreters, also in turns,
each after bucketvault's store package is loaded (what a mirror has loaded anyway).

    .venv/bin/python bench/signer_probe.py --rounds 5 --signatures 20000
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from bucketvault.store.sigv4 import SigV4

TARGET = "/bench-bucket/d0041/obj-0004711.bin"
HEADERS = {
    "Host": "127.0.0.1:9000",
    "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
    "Content-Length": "4096",
    "x-amz-meta-owner": "photos team",
}

Sign = Callable[[], object]


def ours() -> Sign:
    signer = SigV4("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1")
    return lambda: signer.sign("PUT", TARGET, HEADERS)


def awscrt_signer() -> Sign | None:
    try:
        from awscrt import auth, http
    except ImportError:
        return None
    config = auth.AwsSigningConfig(
        algorithm=auth.AwsSigningAlgorithm.V4,
        signature_type=auth.AwsSignatureType.HTTP_REQUEST_HEADERS,
        credentials_provider=auth.AwsCredentialsProvider.new_static(
            "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        ),
        region="us-east-1",
        service="s3",
        signed_body_value=auth.AwsSignedBodyValue.UNSIGNED_PAYLOAD,
        signed_body_header_type=auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
        use_double_uri_encode=False,
        should_normalize_uri_path=False,
    )

    def sign() -> object:
        request = http.HttpRequest("PUT", TARGET, http.HttpHeaders(list(HEADERS.items())))
        auth.aws_sign_request(request, config).result()
        return dict(request.headers)

    return sign


def botocore_signer() -> Sign | None:
    try:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError:
        return None
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    signer = S3SigV4Auth(credentials, "s3", "us-east-1")

    def sign() -> object:
        request = AWSRequest("PUT", "http://127.0.0.1:9000" + TARGET, headers=dict(HEADERS))
        request.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
        signer.add_auth(request)
        return request.headers

    return sign


# What each signer adds to a process that already runs bucketvault's store package (and
# so asyncio): the import is timed after `SETUP`, in a fresh interpreter each time.
SETUP = "import bucketvault.store"
IMPORTS = {
    "bucketvault sigv4": "import bucketvault.store.sigv4",
    "awscrt": "import awscrt.auth, awscrt.http",
    "botocore": "import botocore.auth, botocore.awsrequest, botocore.credentials",
}


def import_seconds(statement: str) -> float:
    """Wall time of one import in a fresh interpreter, after `SETUP`."""
    timed = f"t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    code = f"{SETUP}; import time; {timed}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return float(done.stdout) if done.returncode == 0 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--signatures", type=int, default=20000)
    args = parser.parse_args()
    signers = {
        name: sign
        for name, sign in (
            ("bucketvault sigv4", ours()),
            ("awscrt", awscrt_signer()),
            ("botocore", botocore_signer()),
        )
        if sign is not None
    }
    per_signature: dict[str, list[float]] = {name: [] for name in signers}
    imports: dict[str, list[float]] = {name: [] for name in signers}
    for _ in range(args.rounds):
        for name, sign in signers.items():
            started = time.process_time()
            for _ in range(args.signatures):
                sign()
            per_signature[name].append((time.process_time() - started) / args.signatures)
            imports[name].append(import_seconds(IMPORTS[name]))
    print(f"medians of {args.rounds} rounds taking turns, {args.signatures} signatures each")
    for name in signers:
        print(
            f"  {name:18} {statistics.median(per_signature[name]) * 1e6:6.1f} us a signature"
            f"   import {statistics.median(imports[name]) * 1e3:6.1f} ms"
        )


if __name__ == "__main__":
    main()
