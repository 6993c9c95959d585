#!/usr/bin/env python3
"""Reads and edits editorial files with the real OpenTimelineIO package and its adapters, for
tests/tests/interchange.rs. Never imports anything of ours.

  otio_tool.py summary FILE [--rate R]
      Prints JSON: {"name", "rate", "duration", "tracks": [{"kind", "name", "clips":
      [{"name", "start", "duration", "source_start", "url"}]}]} with times in frames.
  otio_tool.py edit IN OUT [--rate R]
      On the first video track: swaps the first two clips, trims the third's tail by 5
      frames, deletes the fourth (ripple), and writes OUT (format from its extension:
      .otio, .edl, .fcpxml, .xml). Prints the same JSON summary of what it wrote.
"""
import json
import sys

import opentimelineio as otio


def timeline_of(result):
    if isinstance(result, otio.schema.Timeline):
        return result
    found = result.find_children(descended_from_type=otio.schema.Timeline)
    if not found:
        sys.exit("no timeline in the file")
    return found[0]


def read(path, rate):
    kwargs = {}
    if path.endswith(".edl"):
        kwargs["rate"] = rate
    return timeline_of(otio.adapters.read_from_file(path, **kwargs))


def frames(t, rate):
    return int(round(t.rescaled_to(rate).value))


def summary(tl, rate):
    tracks = []
    for track in tl.tracks:
        clips = []
        for clip in track.find_clips():
            r = clip.range_in_parent()
            url = getattr(clip.media_reference, "target_url", None)
            clips.append({
                "name": clip.name,
                "start": frames(r.start_time, rate),
                "duration": frames(r.duration, rate),
                "source_start": frames(clip.source_range.start_time, rate),
                "url": url,
                "item": (clip.metadata.get("previz") or {}).get("item"),
            })
        tracks.append({"kind": track.kind, "name": track.name, "clips": clips})
    return {
        "name": tl.name,
        "rate": tl.duration().rate,
        "duration": frames(tl.duration(), rate),
        "tracks": tracks,
    }


def edit(tl):
    video = next(t for t in tl.tracks if t.kind == otio.schema.TrackKind.Video)
    positions = [i for i, c in enumerate(video) if isinstance(c, otio.schema.Clip)]
    a, b, c, d = positions[:4]
    first, second = video[a], video[b]
    # Swap the first two clips (both become their own copies to reparent them).
    first_copy, second_copy = first.clone(), second.clone()
    video[a] = second_copy
    video[b] = first_copy
    third = video[c]
    sr = third.source_range
    third.source_range = otio.opentime.TimeRange(
        sr.start_time, sr.duration - otio.opentime.RationalTime(5, sr.duration.rate))
    del video[d]


def main():
    args = sys.argv[1:]
    rate = 24.0
    if "--rate" in args:
        i = args.index("--rate")
        rate = float(args[i + 1])
        del args[i:i + 2]
    command = args[0]
    if command == "summary":
        print(json.dumps(summary(read(args[1], rate), rate), indent=1))
    elif command == "edit":
        tl = read(args[1], rate)
        edit(tl)
        otio.adapters.write_to_file(tl, args[2])
        print(json.dumps(summary(read(args[2], rate), rate), indent=1))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
