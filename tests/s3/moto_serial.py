#!/usr/bin/env python3
"""A real S3 server on loopback for the storage tests: moto's S3 implementation, served one
request at a time.

moto checks If-Match / If-None-Match and then writes, without a lock between the two; its stock
`moto_server` serves requests on many threads, so two conditional writes racing for the same
key could both pass the check. Serving requests one at a time makes each conditional write
atomic, as a real S3 server's are, which is what the concurrency tests rely on.

Usage: moto_serial.py --port PORT [--host 127.0.0.1] [--bucket NAME ...]

Buckets named with --bucket exist before the first request is answered (moto keeps everything in
memory, so a restarted server would otherwise answer NoSuchBucket for a moment).
"""
import argparse
import signal
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", action="append", default=[])
    args = parser.parse_args()
    if args.bucket:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for name in args.bucket:
            backend.create_bucket(name, "us-east-1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, app, threaded=False, use_reloader=False)


if __name__ == "__main__":
    main()
