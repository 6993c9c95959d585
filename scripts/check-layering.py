#!/usr/bin/env python3
"""Checks the crate layering of the workspace over `cargo metadata` (as rerun does).

Rules (ARCHITECTURE.md):
  * core <- {screenplay, storage, jobs, grammar} <- {models, render, script} <- {breakdown, voices, frames}
    <- batch
    <- {cli, app}: a crate may
    depend only on workspace crates of a lower layer;
  * no engine crate depends on egui, eframe or winit, directly or through any other crate;
  * core depends only on the small allow-list below (no I/O, no threads, no candle, no UI).
Exit status 1 with one line per violation.
"""
import json
import subprocess
import sys
from pathlib import Path

LAYERS = {
    "previz-core": 0,
    "previz-screenplay": 1,
    "previz-storage": 1,
    "previz-jobs": 1,
    "previz-grammar": 1,
    "previz-models": 2,
    "previz-render": 2,
    "previz-script": 2,
    # Pipelines that drive models over the document (breakdown; later voices, frames).
    "previz-breakdown": 2.5,
    "previz-voices": 2.5,
    "previz-frames": 2.5,
    # The headless pipeline over all of them (batch, shards, the farm's gather).
    "previz-batch": 2.75,
    "previz-cli": 3,
    "previz-studio": 3,
}
# Test-only crates may use anything.
UNLAYERED = {"previz-e2e"}
UI_CRATES = ("egui", "eframe", "winit")
CORE_ALLOWED = {"serde", "serde_json", "thiserror", "uuid", "jiff", "strsim"}


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    cmd = ["cargo", "metadata", "--format-version", "1"]
    if "--unlocked" not in sys.argv:
        cmd.append("--locked")
    result = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        print(f"layering: `{' '.join(cmd)}` failed:\n{result.stderr}", file=sys.stderr)
        return 1
    meta = json.loads(result.stdout)
    packages = {p["id"]: p for p in meta["packages"]}
    members = set(meta["workspace_members"])
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    problems = []

    def normal_deps(pkg_id):
        for dep in nodes[pkg_id]["deps"]:
            kinds = {k["kind"] for k in dep["dep_kinds"]}
            if None in kinds or "build" in kinds:
                yield dep["pkg"]

    def closure(pkg_id):
        seen, stack = set(), [pkg_id]
        while stack:
            for dep in normal_deps(stack.pop()):
                if dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
        return seen

    for pkg_id in sorted(members, key=lambda i: packages[i]["name"]):
        pkg = packages[pkg_id]
        name = pkg["name"]
        rel = Path(pkg["manifest_path"]).resolve().relative_to(root)
        if name in UNLAYERED:
            continue
        if name not in LAYERS:
            problems.append(f"{rel}: crate {name} has no layer; add it to scripts/check-layering.py and ARCHITECTURE.md")
            continue
        for dep in normal_deps(pkg_id):
            dep_name = packages[dep]["name"]
            if dep in members and dep_name not in UNLAYERED:
                if LAYERS.get(dep_name, 99) >= LAYERS[name]:
                    problems.append(
                        f"{rel}: {name} (layer {LAYERS[name]}) depends on {dep_name} "
                        f"(layer {LAYERS.get(dep_name)}); a crate may only depend on lower layers"
                    )
            if name == "previz-core" and dep not in members and dep_name not in CORE_ALLOWED:
                problems.append(
                    f"{rel}: previz-core depends on {dep_name}; core allows only {sorted(CORE_ALLOWED)} "
                    "(no I/O, threads, models or UI). Move the code out of core, or justify and extend the list."
                )
        if rel.parts[0] == "engine":
            for dep in closure(pkg_id):
                dep_name = packages[dep]["name"]
                if dep_name.startswith(UI_CRATES) or dep_name in UI_CRATES:
                    problems.append(f"{rel}: engine crate {name} depends (maybe indirectly) on UI crate {dep_name}")
    for p in problems:
        print(f"layering: {p}")
    if not problems:
        print(f"layering: ok ({len(members)} workspace crates)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
