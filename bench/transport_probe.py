"""Client CPU per request for each candidate S3 transport (issue #10's probe).

One `rclone serve s3` server on loopback; N objects of 4 KiB are written to it, then
each transport copies them within the same server (GET, read the body, PUT under a new
key), 32 at a time, and finally reads and writes one large object. Every transport does
the least any client built on it can do: no checks, no accounting. It prints this
process's CPU time per small object and per MiB of the large one, and wall time. The
server's CPU is not counted (it is the same for all).

Transports:
- wire: bucketvault's one request path (`store/s3_wire.py`): `store/http1.py`
  (keep-alive connections on asyncio, answers parsed by httptools), signed by
  `store/sigv4.py`, with its retry and error translation around each request;
- aiohttp: the same requests, signed by `store/sigv4.py`, sent by aiohttp (the store's
  transport until session 9);
- wire+botocore: aiohttp requests signed by botocore's SigV4 signer (what the store used
  before that);
- crt: awscrt's S3 client (C signing, HTTP and multipart; threads of its own);
- obstore: the Rust `object_store` client;
- aiobotocore: botocore's full client on aiohttp.
The last three (and botocore) are not bucketvault dependencies: each is measured when it
is installed (`pip install obstore aiobotocore`), and skipped otherwise.

Measured here earlier (2,000 x 4 KiB, medians of 3, loaded 2-core machine, asyncio's
own loop), client CPU per object copied: aiohttp + botocore signer 563 us, aiohttp +
awscrt signer 479 us, obstore 524 us, awscrt S3 client 750 us, aiobotocore 2,088 us;
per MiB of a 64 MiB object all within 2.7-6.2 ms. The probe now runs on the event loop
the commands use (uvloop); see bench/README.md for the run that chose `http1`.

    .venv/bin/python bench/transport_probe.py --objects 2000 --large-mib 64 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bucketvault import event_loop
from bucketvault.loopback import LoopbackServer, loopback_server
from bucketvault.store import S3Endpoint
from bucketvault.store.s3_errors import Where

Copy = Callable[[str, str], Awaitable[None]]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


RETRIES = [0]


async def timed(count: int, copy: Copy, prefix: str) -> tuple[float, float]:
    gate = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with gate:
            for attempt in range(5):  # rclone serve s3 answers 500 now and then under load
                try:
                    await copy(f"d/k{i:06d}", f"{prefix}/k{i:06d}")
                    return
                except Exception:
                    if attempt == 4:
                        raise
                    RETRIES[0] += 1
                    await asyncio.sleep(0.05)

    wall, cpu = time.perf_counter(), cpu_seconds()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - wall, cpu_seconds() - cpu


# -- transports ---------------------------------------------------------------------------


def wire_copy(ep: S3Endpoint, bucket: str) -> Copy:
    wire, where = ep.wire, Where(ep.url, bucket, None)

    async def copy(src: str, dst: str) -> None:
        got = await wire.send("GET", where, bucket=bucket, key=src)
        await wire.send("PUT", where, bucket=bucket, key=dst, body=got.body)

    return copy


def aiohttp_copy(server: LoopbackServer, bucket: str) -> tuple[Copy, Callable[[], Any]]:
    """aiohttp requests signed by bucketvault's signer: the store's transport before
    `store/http1.py`."""
    import aiohttp
    import yarl

    from bucketvault.store.s3_wire import quote_path
    from bucketvault.store.sigv4 import SigV4

    signer = SigV4(server.access_key, server.secret_key, "us-east-1")
    host = server.url.split("//", 1)[1]
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=64),
        auto_decompress=False,
        skip_auto_headers=("Content-Type",),
        cookie_jar=aiohttp.DummyCookieJar(),
    )

    async def copy(src: str, dst: str) -> None:
        path = quote_path(bucket, src)
        headers = signer.sign("GET", path, {"Host": host})
        async with session.get(yarl.URL(server.url + path, encoded=True), headers=headers) as got:
            body = await got.read()
        path = quote_path(bucket, dst)
        headers = signer.sign("PUT", path, {"Host": host})
        async with session.put(
            yarl.URL(server.url + path, encoded=True), headers=headers, data=body
        ) as put:
            answer = await put.read()
            assert put.status == 200, (put.status, answer[:300])

    return copy, session.close


def wire_botocore_copy(server: LoopbackServer, bucket: str) -> tuple[Copy, Callable[[], Any]]:
    """aiohttp requests signed by botocore's signer (unsigned payload, as bucketvault's
    requests are)."""
    import aiohttp
    import yarl
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from bucketvault.store.s3_wire import quote_path

    signer = S3SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", "us-east-1")
    unsigned = type("Config", (), {"s3": {"payload_signing_enabled": False}})()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), auto_decompress=False)

    def signed(method: str, path: str) -> dict[str, str]:
        request = AWSRequest(method=method, url=server.url + path, headers={})
        request.context["client_config"] = unsigned
        signer.add_auth(request)
        return dict(request.headers.items())

    async def copy(src: str, dst: str) -> None:
        path = quote_path(bucket, src)
        async with session.get(
            yarl.URL(server.url + path, encoded=True), headers=signed("GET", path)
        ) as got:
            body = await got.read()
        path = quote_path(bucket, dst)
        async with session.put(
            yarl.URL(server.url + path, encoded=True), headers=signed("PUT", path), data=body
        ) as put:
            answer = await put.read()
            assert put.status == 200, (put.status, answer[:300])

    return copy, session.close


def obstore_copy(server: LoopbackServer, bucket: str) -> Copy:
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        bucket,
        config={
            "endpoint": server.url,
            "region": "us-east-1",
            "access_key_id": server.access_key,
            "secret_access_key": server.secret_key,
            "virtual_hosted_style_request": False,
        },  # type: ignore[arg-type]
        client_options={"allow_http": True},  # type: ignore[arg-type]
    )

    async def copy(src: str, dst: str) -> None:
        got = await obstore.get_async(store, src)
        body = bytes(await got.bytes_async())
        await obstore.put_async(store, dst, body, use_multipart=False)

    return copy


async def aiobotocore_copy(server: LoopbackServer, bucket: str) -> tuple[Copy, Callable[[], Any]]:
    from aiobotocore.session import get_session

    context = get_session().create_client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
    )
    client = await context.__aenter__()

    async def copy(src: str, dst: str) -> None:
        got = await client.get_object(Bucket=bucket, Key=src)
        async with got["Body"] as stream:
            body = await stream.read()
        await client.put_object(Bucket=bucket, Key=dst, Body=body)

    async def close() -> None:
        await context.__aexit__(None, None, None)

    return copy, close


def crt_copy(server: LoopbackServer, bucket: str) -> Copy:
    from awscrt import auth, http, io, s3

    bootstrap = io.ClientBootstrap(
        io.EventLoopGroup(2), io.DefaultHostResolver(io.EventLoopGroup(1))
    )
    provider = auth.AwsCredentialsProvider.new_static(server.access_key, server.secret_key)
    client = s3.S3Client(
        bootstrap=bootstrap,
        region="us-east-1",
        credential_provider=provider,
        tls_mode=s3.S3RequestTlsMode.DISABLED,
        part_size=8 * 1024 * 1024,
        # its multipart upload fails on rclone serve s3 (AWS_ERROR_S3_MISSING_UPLOAD_ID):
        # every PUT here is one request, as for the other transports
        multipart_upload_threshold=5 * 1024**3,
        throughput_target_gbps=10.0,
    )
    host = server.url.split("://", 1)[1]
    loop = asyncio.get_running_loop()

    def request(kind: Any, method: str, key: str, body: bytes | None) -> Awaitable[bytes]:
        from io import BytesIO

        from bucketvault.store.s3_wire import quote_path

        done: asyncio.Future[bytes] = loop.create_future()
        received: list[bytes] = []
        headers = [("host", host)]
        if body is not None:
            headers.append(("Content-Length", str(len(body))))
        req = http.HttpRequest(
            method,
            quote_path(bucket, key),
            http.HttpHeaders(headers),
            BytesIO(body) if body is not None else None,
        )

        def on_body(chunk: bytes, **_: Any) -> None:
            received.append(bytes(chunk))

        def on_done(error: BaseException | None = None, **_: Any) -> None:
            def settle() -> None:
                if error is not None:
                    done.set_exception(error)
                else:
                    done.set_result(b"".join(received))

            loop.call_soon_threadsafe(settle)

        client.make_request(type=kind, request=req, on_body=on_body, on_done=on_done)
        return done

    async def copy(src: str, dst: str) -> None:
        body = await request(s3.S3RequestType.GET_OBJECT, "GET", src, None)
        await request(s3.S3RequestType.PUT_OBJECT, "PUT", dst, body)

    return copy


# -- the run ------------------------------------------------------------------------------


async def fill(ep: S3Endpoint, bucket: str, count: int, large: int) -> None:
    wire, where = ep.wire, Where(ep.url, bucket, None)
    gate = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        async with gate:
            for _ in range(10):  # rclone answers 500 to a few concurrent first writes
                try:
                    await wire.send(
                        "PUT", where, bucket=bucket, key=f"d/k{i:06d}", body=os.urandom(4096)
                    )
                    return
                except Exception:
                    await asyncio.sleep(0.05)

    await asyncio.gather(*(one(i) for i in range(count)))
    if large:
        await wire.send("PUT", where, bucket=bucket, key="d/large", body=os.urandom(large))


async def main(count: int, large_mib: int, rounds: int, only: list[str]) -> None:
    with loopback_server("rclone") as server:
        ep = S3Endpoint(server.endpoint())
        bucket = "probe"
        await ep.bucket(bucket).create()
        await fill(ep, bucket, count, large_mib * 1024 * 1024)
        closers: list[Callable[[], Any]] = []
        transports: dict[str, Copy] = {"wire": wire_copy(ep, bucket)}
        makers: dict[str, Callable[[], Any]] = {
            "aiohttp": lambda: aiohttp_copy(server, bucket),
            "crt": lambda: crt_copy(server, bucket),
            "wire+botocore": lambda: wire_botocore_copy(server, bucket),
            "obstore": lambda: obstore_copy(server, bucket),
            "aiobotocore": lambda: aiobotocore_copy(server, bucket),
        }
        for name, make in makers.items():
            if only and name not in only:
                continue
            try:
                made = make()
                if inspect.isawaitable(made):
                    made = await made
            except ImportError:
                print(f"{name}: its library is not installed, skipped")
                continue
            if isinstance(made, tuple):
                transports[name], close = made
                closers.append(close)
            else:
                transports[name] = made
        if only:
            transports = {k: v for k, v in transports.items() if k in only}
        small: dict[str, list[tuple[float, float]]] = {name: [] for name in transports}
        big: dict[str, list[tuple[float, float]]] = {name: [] for name in transports}
        try:
            for r in range(rounds):  # interleaved: each round runs every transport once
                for name, copy in transports.items():
                    small[name].append(await timed(count, copy, f"{name}-{r}"))
                    if large_mib:
                        wall, cpu = time.perf_counter(), cpu_seconds()
                        await copy("d/large", f"{name}-{r}/large")
                        big[name].append((time.perf_counter() - wall, cpu_seconds() - cpu))
        finally:
            for close in closers:
                await close()
            await ep.close()
        print(f"\nretried copies: {RETRIES[0]}")
        print(f"{count} x 4 KiB copies (GET + PUT), 32 at a time; medians of {rounds} rounds")
        print(f"{'transport':<12} {'wall s':>7} {'CPU s':>7} {'us CPU/object':>14}", end="")
        print(f"   {large_mib} MiB object: {'wall s':>7} {'ms CPU/MiB':>10}" if large_mib else "")
        for name in transports:
            wall = statistics.median(w for w, _ in small[name])
            cpu = statistics.median(c for _, c in small[name])
            line = f"{name:<12} {wall:7.2f} {cpu:7.2f} {cpu / count * 1e6:14.0f}"
            if large_mib:
                big_wall = statistics.median(w for w, _ in big[name])
                big_cpu = statistics.median(c for _, c in big[name])
                line += f"   {'':>{len(str(large_mib)) + 12}}{big_wall:7.2f} "
                line += f"{big_cpu / large_mib * 1e3:10.2f}"
            print(line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--large-mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=[])
    args = parser.parse_args()
    event_loop.run(main(args.objects, args.large_mib, args.rounds, args.only))
