"""The fault proxy: byte-exact relaying, every fault kind as a client sees it, determinism."""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import time
import unicodedata
import uuid
import zlib
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from bucketvault.loopback import LoopbackServer
from tests.conftest import boto_client, new_bucket_name
from tests.support.faultproxy import Fault, FaultProxy, FaultProxyError
from tests.support.fixtures import FaultProxyFactory, single_shot_client

# -- helpers ------------------------------------------------------------------------------------


class ScriptedUpstream:
    """A loopback "server" that accepts ONE connection, records the exact bytes it receives
    and plays a script of ("recv", n) / ("send", bytes) steps. Bounded: 5 s per socket op."""

    def __init__(self, script: list[tuple[str, Any]]) -> None:
        self.script = script
        self.received: list[bytes] = []
        self.accepted = 0
        self.error: BaseException | None = None
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(5)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._sock.accept()
            self.accepted += 1
            with conn:
                conn.settimeout(5)
                for step, arg in self.script:
                    if step == "send":
                        conn.sendall(arg)
                        continue
                    buf = b""
                    while len(buf) < arg:
                        piece = conn.recv(arg - len(buf))
                        if not piece:
                            break
                        buf += piece
                    self.received.append(buf)
        except BaseException as exc:
            self.error = exc

    def close(self) -> None:
        self._thread.join(10)
        self._sock.close()


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        piece = sock.recv(n - len(buf))
        if not piece:
            break
        buf += piece
    return buf


@pytest.fixture
def bucket(moto: LoopbackServer) -> str:
    name = new_bucket_name("fp")
    boto_client(moto).create_bucket(Bucket=name)
    return name


def _seed_object(server: LoopbackServer, bucket: str, key: str, body: bytes) -> None:
    boto_client(server).put_object(Bucket=bucket, Key=key, Body=body)


def _exists(server: LoopbackServer, bucket: str, key: str) -> bool:
    try:
        boto_client(server).head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


# -- the proxy itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:9000",
        "http://example.com:80",
        "https://127.0.0.1:9000",
        "http://127.0.0.1",
        "ftp://127.0.0.1:21",
    ],
)
def test_refuses_non_loopback_upstreams(url: str) -> None:
    with pytest.raises(FaultProxyError):
        FaultProxy(url)


def test_rejects_bad_rules() -> None:
    with pytest.raises(FaultProxyError):
        Fault.reset(p=1.5)
    with pytest.raises(FaultProxyError):
        Fault.stall(10_000)
    with pytest.raises(FaultProxyError):
        Fault(kind="explode")  # type: ignore[arg-type]


def test_relays_bytes_exactly_with_keep_alive_and_100_continue() -> None:
    """Heads (raw target, header order/case/duplicates, foreign Host) and chunked bodies with
    extensions and trailers pass byte for byte, both ways, over one kept-alive connection."""
    put_head = (
        b"PUT /bkt/a//b/./x/../%2F%2f/%E2%9C%93+%20?uploadId=abc%2Fdef&partNumber=1&x HTTP/1.1\r\n"
        b"Host: s3.example.internal:9000\r\n"
        b"X-Weird-Case: A\r\n"
        b"x-weird-case: B\r\n"
        b"Authorization: AWS4-HMAC-SHA256 Credential=k/20240101/us-east-1/s3/aws4_request\r\n"
        b"Expect: 100-continue\r\n"
        b"Transfer-Encoding: chunked\r\n"
        b"\r\n"
    )
    put_body = b"5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nx-amz-checksum-crc32: AAAA\r\n\r\n"
    put_answer = (
        b'HTTP/1.1 200 OK\r\nETag: "x"\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n'
    )
    get_request = (
        b"GET /bkt/%2e%2e/x?list-type=2&prefix=a%20b HTTP/1.1\r\n"
        b"host: 127.0.0.1:1\r\nContent-Length: 3\r\n\r\nxyz"
    )
    get_answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    head_request = b"HEAD /bkt/k HTTP/1.1\r\nHost: h\r\n\r\n"
    head_answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
    del_request = b"DELETE /bkt/k HTTP/1.1\r\nHost: h\r\n\r\n"
    del_answer = b"HTTP/1.1 204 No Content\r\nx-amz-id-2: y\r\n\r\n"
    continue_line = b"HTTP/1.1 100 Continue\r\n\r\n"
    upstream = ScriptedUpstream(
        [
            ("recv", len(put_head)),
            ("send", continue_line),
            ("recv", len(put_body)),
            ("send", put_answer),
            ("recv", len(get_request)),
            ("send", get_answer),
            ("recv", len(head_request)),
            ("send", head_answer),
            ("recv", len(del_request)),
            ("send", del_answer),
        ]
    )
    try:
        with (
            FaultProxy(upstream.url) as proxy,
            socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as client,
        ):
            client.sendall(put_head)
            assert recv_exactly(client, len(continue_line)) == continue_line
            client.sendall(put_body)
            assert recv_exactly(client, len(put_answer)) == put_answer
            for request, answer in (
                (get_request, get_answer),
                (head_request, head_answer),
                (del_request, del_answer),
            ):
                client.sendall(request)
                assert recv_exactly(client, len(answer)) == answer
            counters = proxy.counters()
    finally:
        upstream.close()
    assert upstream.error is None
    assert upstream.received == [put_head, put_body, get_request, head_request, del_request]
    assert upstream.accepted == 1
    assert (counters.connections, counters.requests, counters.forwarded) == (1, 4, 4)
    assert counters.total_faults == 0


MOTO_KEYS = [
    "plain.txt",
    "with space/and  two",
    "unicode/" + unicodedata.normalize("NFC", "café-✓"),
    "unicode/" + unicodedata.normalize("NFD", "café-✓"),
    "a//b",
    "./x",
    "a%2Fb",
    "/leading",
    "trailing/",
    "q?x=1&y=+2#frag",
]
RCLONE_KEYS = ["plain.txt", "with space/and  two", "unicode/café-✓", "q x=1&y=+2", "a%2Fb"]


def test_transparent_round_trip(fault_proxy: FaultProxyFactory, s3: LoopbackServer) -> None:
    proxy, endpoint = fault_proxy(s3)
    client = single_shot_client(s3, endpoint.url)
    bucket = new_bucket_name("fp")
    client.create_bucket(Bucket=bucket)
    keys = MOTO_KEYS if s3.kind == "moto" else RCLONE_KEYS
    for i, key in enumerate(keys):
        body = f"{i}:{key}".encode() * 50
        client.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="text/x-test", Metadata={"n": str(i)}
        )
        got = client.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body
        assert got["ContentType"] == "text/x-test"
        # rclone answers "N" for "n": compare with what the server says directly
        direct_head = boto_client(s3).head_object(Bucket=bucket, Key=key)
        assert got["Metadata"] == direct_head["Metadata"]
        assert list(got["Metadata"].values()) == [str(i)]
    listed = client.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(keys)
    direct = boto_client(s3).list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["ETag"]) for o in listed] == [(o["Key"], o["ETag"]) for o in direct]
    counters = proxy.counters()
    assert counters.requests == counters.forwarded == 2 + 2 * len(keys)
    if s3.kind == "rclone":  # moto (werkzeug) answers "Connection: close" every time
        assert counters.connections < counters.requests  # connections are kept alive


def test_multipart_upload_through_proxy(fault_proxy: FaultProxyFactory, s3: LoopbackServer) -> None:
    _, endpoint = fault_proxy(s3)
    client = single_shot_client(s3, endpoint.url)
    bucket = new_bucket_name("fp")
    client.create_bucket(Bucket=bucket)
    parts = [bytes([65 + i]) * (5 * 1024 * 1024) for i in range(2)] + [b"tail"]
    upload = client.create_multipart_upload(Bucket=bucket, Key="big/one")
    etags = [
        client.upload_part(
            Bucket=bucket, Key="big/one", UploadId=upload["UploadId"], PartNumber=n, Body=part
        )["ETag"]
        for n, part in enumerate(parts, start=1)
    ]
    client.complete_multipart_upload(
        Bucket=bucket,
        Key="big/one",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    assert boto_client(s3).get_object(Bucket=bucket, Key="big/one")["Body"].read() == b"".join(
        parts
    )


def test_chunked_request_bodies_reach_the_server(
    fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str
) -> None:
    """Transfer-Encoding: chunked streams through (moto accepts unsigned requests)."""
    proxy, _ = fault_proxy(moto)
    pieces = [bytes([48 + i]) * 70_000 for i in range(5)]
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    try:
        conn.request("PUT", f"/{bucket}/chunky", body=iter(pieces), encode_chunked=True)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 200
    assert boto_client(moto).get_object(Bucket=bucket, Key="chunky")["Body"].read() == b"".join(
        pieces
    )


def test_aws_chunked_bodies_are_stored_as_if_sent_directly(
    fault_proxy: FaultProxyFactory, s3: LoopbackServer
) -> None:
    """A signed aws-chunked upload with a trailer: whatever the server makes of it directly,
    it makes of it through the proxy too (the proxy does not touch the payload)."""
    proxy, _ = fault_proxy(s3)
    bucket = new_bucket_name("fp")
    boto_client(s3).create_bucket(Bucket=bucket)
    data = b"hello world " * 1000
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big"))
    body = b"%x\r\n%s\r\n0\r\nx-amz-checksum-crc32:%s\r\n\r\n" % (len(data), data, crc)
    statuses = []
    for name, url in (("direct", s3.url), ("proxied", proxy.url)):
        request = AWSRequest(
            "PUT",
            f"{url}/{bucket}/{name}",
            data=body,
            headers={
                "Content-Encoding": "aws-chunked",
                "Content-Length": str(len(body)),
                "x-amz-decoded-content-length": str(len(data)),
                "x-amz-trailer": "x-amz-checksum-crc32",
                "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            },
        )
        S3SigV4Auth(Credentials(s3.access_key, s3.secret_key), "s3", "us-east-1").add_auth(request)
        port = int(url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("PUT", f"/{bucket}/{name}", body=body, headers=dict(request.headers))
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        finally:
            conn.close()
    direct = boto_client(s3).get_object(Bucket=bucket, Key="direct")["Body"].read()
    proxied = boto_client(s3).get_object(Bucket=bucket, Key="proxied")["Body"].read()
    assert statuses == [200, 200]
    assert proxied == direct


# -- faults as the client sees them ------------------------------------------------------------


def test_reset_before_response(
    fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str
) -> None:
    proxy, endpoint = fault_proxy(moto, Fault.reset(method="PUT"))
    client = single_shot_client(moto, endpoint.url)
    with pytest.raises(ConnectionClosedError):
        client.put_object(Bucket=bucket, Key="never", Body=b"x")
    assert not _exists(moto, bucket, "never")  # not forwarded
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0  # GETs are untouched
    counters = proxy.counters()
    assert counters.faults["reset"] == 1
    assert counters.requests == 2
    assert counters.forwarded == 1


def test_reset_after_forward_applies_the_write(
    fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str
) -> None:
    proxy, endpoint = fault_proxy(moto, Fault.reset(after_forward=True))
    client = single_shot_client(moto, endpoint.url)
    with pytest.raises(ConnectionClosedError):
        client.put_object(Bucket=bucket, Key="applied", Body=b"x")
    assert _exists(moto, bucket, "applied")
    assert proxy.counters().faults["reset"] == 1


def test_reset_in_the_middle_of_a_body(fault_proxy: FaultProxyFactory, s3: LoopbackServer) -> None:
    bucket = new_bucket_name("fp")
    boto_client(s3).create_bucket(Bucket=bucket)
    _seed_object(s3, bucket, "obj", b"0123456789" * 10_000)
    proxy, endpoint = fault_proxy(s3, Fault.reset(after_bytes=1000, method="GET"))
    client = single_shot_client(s3, endpoint.url)
    response = client.get_object(Bucket=bucket, Key="obj")  # the head arrives intact
    assert response["ContentLength"] == 100_000
    with pytest.raises(ResponseStreamingError, match=r"reset|Connection broken"):
        response["Body"].read()
    assert proxy.counters().faults["reset"] == 1


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault.error(500), 500, "InternalError"),
        (Fault.error(503), 503, "ServiceUnavailable"),
        (Fault.slow_down(), 503, "SlowDown"),
    ],
)
def test_status_errors(
    fault_proxy: FaultProxyFactory,
    moto: LoopbackServer,
    bucket: str,
    fault: Fault,
    status: int,
    code: str,
) -> None:
    proxy, endpoint = fault_proxy(moto, fault)
    client = single_shot_client(moto, endpoint.url)
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=bucket, Key="k", Body=b"x" * 1000)
    error = caught.value.response
    assert error["Error"]["Code"] == code
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error["ResponseMetadata"]["RequestId"]
    with pytest.raises(ClientError) as caught:  # HEAD: no body, the status still tells
        client.head_object(Bucket=bucket, Key="k")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert not _exists(moto, bucket, "k")  # not forwarded
    counters = proxy.counters()
    assert counters.faults["status"] == counters.requests == 2
    assert counters.forwarded == 0


def test_status_after_forward_applies_the_write(
    fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str
) -> None:
    proxy, endpoint = fault_proxy(moto, Fault.slow_down(after_forward=True, method="PUT"))
    client = single_shot_client(moto, endpoint.url)
    with pytest.raises(ClientError, match="SlowDown"):
        client.put_object(Bucket=bucket, Key="applied", Body=b"x" * 1000)
    assert _exists(moto, bucket, "applied")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    counters = proxy.counters()
    assert (counters.faults["status"], counters.forwarded) == (1, 2)


def test_truncated_body(fault_proxy: FaultProxyFactory, s3: LoopbackServer) -> None:
    bucket = new_bucket_name("fp")
    boto_client(s3).create_bucket(Bucket=bucket)
    _seed_object(s3, bucket, "obj", b"z" * 4000)
    proxy, endpoint = fault_proxy(s3, Fault.truncate(method="GET", path=r"/obj$"))
    client = single_shot_client(s3, endpoint.url)
    response = client.get_object(Bucket=bucket, Key="obj")
    with pytest.raises(ResponseStreamingError, match=r"IncompleteRead\(2000 bytes read"):
        response["Body"].read()
    assert proxy.counters().faults["truncate"] == 1


def test_drop_until_the_client_times_out(
    fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str
) -> None:
    proxy, endpoint = fault_proxy(moto, Fault.drop(max_hold=10, limit=1))
    client = single_shot_client(moto, endpoint.url, read_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        client.list_objects_v2(Bucket=bucket)
    assert 0.5 <= time.monotonic() - started < 3
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0  # limit=1: next one passes
    counters = proxy.counters()
    assert (counters.faults["drop"], counters.requests, counters.forwarded) == (1, 2, 1)


def test_drop_is_bounded_by_max_hold(
    fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str
) -> None:
    _, endpoint = fault_proxy(moto, Fault.drop(max_hold=0.3))
    client = single_shot_client(moto, endpoint.url, read_timeout=5)
    started = time.monotonic()
    with pytest.raises(ConnectionClosedError):
        client.list_objects_v2(Bucket=bucket)
    assert time.monotonic() - started < 2


def test_stall_then_continue(
    fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str
) -> None:
    _seed_object(moto, bucket, "obj", b"payload")
    proxy, endpoint = fault_proxy(moto, Fault.stall(0.4))
    client = single_shot_client(moto, endpoint.url, read_timeout=3)
    started = time.monotonic()
    assert client.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"payload"
    assert time.monotonic() - started >= 0.4
    assert proxy.counters().faults["stall"] == 1


def test_stall_then_reset(
    fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str
) -> None:
    _, endpoint = fault_proxy(moto, Fault.stall(0.2, then="reset", method="PUT"))
    client = single_shot_client(moto, endpoint.url, read_timeout=3)
    with pytest.raises(ConnectionClosedError):
        client.put_object(Bucket=bucket, Key="stalled", Body=b"x")
    assert _exists(moto, bucket, "stalled")  # a stall forwards first


def test_stall_inside_a_body_times_the_reader_out(
    fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str
) -> None:
    _seed_object(moto, bucket, "obj", b"q" * 50_000)
    _, endpoint = fault_proxy(moto, Fault.stall(5, after_bytes=100))
    client = single_shot_client(moto, endpoint.url, read_timeout=0.3)
    response = client.get_object(Bucket=bucket, Key="obj")
    with pytest.raises(ReadTimeoutError):
        response["Body"].read()


def test_filters_pick_the_requests(
    fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str
) -> None:
    """Only UploadPart (a PUT with uploadId in the query) fails, and only twice."""
    proxy, endpoint = fault_proxy(
        moto, Fault.slow_down(method="put", query="uploadId", path=f"^/{bucket}/", limit=2)
    )
    client = single_shot_client(moto, endpoint.url)
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    outcomes = []
    for _ in range(3):
        try:
            client.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"p")
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
    client.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)  # GET with uploadId: passes
    client.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id)
    assert outcomes == ["SlowDown", "SlowDown", "ok"]
    assert proxy.fault_sequence() == [None, "status", "status", None, None, None]


def _random_run(proxy: FaultProxy, client: Any, bucket: str, n: int) -> list[str]:
    outcomes = []
    for i in range(n):
        try:
            client.get_object(Bucket=bucket, Key="obj")["Body"].read()
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
        except (ConnectionClosedError, ResponseStreamingError) as exc:
            outcomes.append(type(exc).__name__)
        assert len(proxy.events()) == i + 1
    return outcomes


def test_random_faults_are_deterministic(
    fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str
) -> None:
    _seed_object(moto, bucket, "obj", b"r" * 5000)
    rules = (Fault.reset(p=0.1), Fault.slow_down(p=0.1), Fault.truncate(p=0.05))
    runs = []
    for _ in range(2):
        proxy, endpoint = fault_proxy(moto, *rules, seed=1234)
        client = single_shot_client(moto, endpoint.url)
        outcomes = _random_run(proxy, client, bucket, 60)
        runs.append((outcomes, proxy.fault_sequence(), proxy.counters()))
    (first, faults1, counters1), (second, faults2, counters2) = runs
    assert first == second
    assert faults1 == faults2
    assert counters1 == counters2
    # the client saw exactly the injected faults
    expected = {
        None: "ok",
        "reset": "ConnectionClosedError",
        "status": "SlowDown",
        "truncate": "ResponseStreamingError",
    }
    assert first == [expected[f] for f in faults1]
    assert {"ok", "ConnectionClosedError", "SlowDown"} <= set(first)
    assert 0.1 < counters1.total_faults / counters1.requests < 0.45
    # another seed gives another sequence
    proxy, _ = fault_proxy(moto, *rules, seed=99)
    client = single_shot_client(moto, proxy.url)
    assert _random_run(proxy, client, bucket, 60) != first


def test_rules_change_at_runtime(
    fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str
) -> None:
    proxy, endpoint = fault_proxy(moto)
    client = single_shot_client(moto, endpoint.url)
    client.list_objects_v2(Bucket=bucket)
    proxy.set_faults(Fault.error(500))
    with pytest.raises(ClientError, match="InternalError"):
        client.list_objects_v2(Bucket=bucket)
    proxy.add_fault(Fault.reset())  # behind the 500 rule: never reached
    with pytest.raises(ClientError, match="InternalError"):
        client.list_objects_v2(Bucket=bucket)
    proxy.clear_faults()
    client.list_objects_v2(Bucket=bucket)
    assert proxy.fault_sequence() == [None, "status", "status", None]
    proxy.reset_counters()
    assert proxy.counters().requests == 0


def test_concurrent_clients_and_rule_changes(
    fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str
) -> None:
    """Counters stay consistent while threads hammer the proxy and rules change under them."""
    _seed_object(moto, bucket, "obj", b"c" * 2000)
    proxy, endpoint = fault_proxy(moto, Fault.slow_down(p=0.3), seed=5)
    errors = {"count": 0}
    lock = threading.Lock()

    def worker() -> None:
        client = single_shot_client(moto, endpoint.url)
        for _ in range(15):
            try:
                client.get_object(Bucket=bucket, Key="obj")["Body"].read()
            except (ClientError, ConnectionClosedError, ResponseStreamingError):
                with lock:
                    errors["count"] += 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for i in range(5):
        time.sleep(0.02)
        proxy.set_faults(Fault.slow_down(p=0.3) if i % 2 else Fault.reset(p=0.3))
    for thread in threads:
        thread.join(30)
    counters = proxy.counters()
    assert counters.requests == 60 == len(proxy.events())
    assert counters.total_faults == errors["count"]


# -- down ---------------------------------------------------------------------------------------


def test_down_then_up(fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str) -> None:
    proxy, endpoint = fault_proxy(moto)
    client = single_shot_client(moto, endpoint.url, connect_timeout=1)
    client.list_objects_v2(Bucket=bucket)  # a kept-alive connection may exist now
    proxy.set_down(True)
    assert proxy.down
    with pytest.raises(EndpointConnectionError):
        client.list_objects_v2(Bucket=bucket)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
    proxy.set_down(False)
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # on a timer: down now, up again by itself
    proxy.down_for(0.3)
    assert proxy.down
    deadline = time.monotonic() + 5
    while proxy.down and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not proxy.down
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert proxy.counters().total_faults == 0


def test_down_in_reset_mode(
    fault_proxy: FaultProxyFactory, moto: LoopbackServer, bucket: str
) -> None:
    proxy, endpoint = fault_proxy(moto, down_mode="reset")
    client = single_shot_client(moto, endpoint.url)
    client.list_objects_v2(Bucket=bucket)
    proxy.set_down(True)
    for _ in range(3):
        with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
            client.list_objects_v2(Bucket=bucket)
    proxy.set_down(False)
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert proxy.counters().down_rejected >= 3


# -- lifecycle ----------------------------------------------------------------------------------


def test_stop_releases_everything(moto: LoopbackServer, bucket: str) -> None:
    before = {t.ident for t in threading.enumerate()}
    proxy = FaultProxy(moto, faults=[Fault.drop(max_hold=60, path="dropme")])
    with pytest.raises(FaultProxyError):
        _ = proxy.url  # not started yet
    proxy.start()
    port = proxy.port
    client = single_shot_client(moto, proxy.url, read_timeout=10)
    outcome: list[str] = []

    def held_request() -> None:
        try:
            client.get_object(Bucket=bucket, Key="dropme")
        except (ConnectionClosedError, EndpointConnectionError) as exc:
            outcome.append(type(exc).__name__)

    held = threading.Thread(target=held_request)
    held.start()
    deadline = time.monotonic() + 5
    while proxy.counters().faults["drop"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    proxy.stop()  # a held connection does not keep the proxy alive
    assert time.monotonic() - started < 3
    held.join(5)
    assert not held.is_alive()
    assert outcome == ["ConnectionClosedError"]  # stopping resets held connections
    proxy.stop()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert {t.ident for t in threading.enumerate()} <= before


def test_proxies_are_independent(moto: LoopbackServer, bucket: str) -> None:
    key = f"k-{uuid.uuid4().hex[:6]}"
    with FaultProxy(moto, faults=[Fault.error(500)]) as broken, FaultProxy(moto) as healthy:
        single_shot_client(moto, healthy.url).put_object(Bucket=bucket, Key=key, Body=b"1")
        with pytest.raises(ClientError):
            single_shot_client(moto, broken.url).get_object(Bucket=bucket, Key=key)
