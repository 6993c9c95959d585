#!/usr/bin/env python3
"""Prints how screenplain (an independent Fountain parser, PyPI) reads a file, in the JSON
naming of previz-screenplay: {"title_page": {...}, "elements": [{"type": ...}, ...]}.

screenplain has no lyrics element: it passes `~` lines through as action or dialogue text,
and this adapter reports those lines as lyrics, as the Fountain spec names them. It attaches a
synopsis to the section or scene heading before it; the adapter reports it as its own element
right after. Notes are dropped by screenplain altogether.

    python3 tests/differential/screenplain_dump.py FILE.fountain
"""

import json
import re
import sys

from screenplain.parsers import fountain
from screenplain.types import Action, Dialog, DualDialog, PageBreak, Section, Slug, Transition


def plain(rich):
    return "" if rich is None else str(rich)


def split_character(text):
    text = text.strip()
    open_at = text.find("(")
    if open_at < 0:
        return text, []
    return text[:open_at].strip(), [m.strip() for m in re.findall(r"\(([^)]*)\)", text[open_at:])]


def dialog(d, side, out):
    name, extensions = split_character(plain(d.character))
    out.append({
        "type": "character",
        "name": name,
        "extension": " ".join(extensions) if extensions else None,
        "extensions": extensions,
        "dual": side is not None,
        "dual_side": side,
    })
    for is_paren, line in d.blocks:
        text = plain(line)
        if is_paren:
            out.append({"type": "parenthetical", "text": text})
            continue
        kind = "lyrics" if text.startswith("~") else "dialogue"
        if kind == "lyrics":
            text = text[1:].strip()
        if out and out[-1]["type"] == kind:
            out[-1]["text"] += "\n" + text
        else:
            out.append({"type": kind, "text": text})


def main():
    if len(sys.argv) != 2:
        print("usage: screenplain_dump.py FILE.fountain", file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8-sig") as stream:
        screenplay = fountain.parse(stream)
    out = []
    for p in screenplay.paragraphs:
        if isinstance(p, Slug):
            out.append({
                "type": "scene_heading",
                "text": plain(p.line),
                "scene_number": None if p.scene_number is None else plain(p.scene_number),
            })
            if p.synopsis:
                out.append({"type": "synopsis", "text": p.synopsis})
        elif isinstance(p, Section):
            out.append({"type": "section", "text": plain(p.text), "depth": p.level})
            if p.synopsis:
                out.append({"type": "synopsis", "text": p.synopsis})
        elif isinstance(p, DualDialog):
            dialog(p.left, "left", out)
            dialog(p.right, "right", out)
        elif isinstance(p, Dialog):
            dialog(p, None, out)
        elif isinstance(p, Transition):
            out.append({"type": "transition", "text": plain(p.line)})
        elif isinstance(p, PageBreak):
            out.append({"type": "page_break"})
        elif isinstance(p, Action):
            lines = [plain(line) for line in p.lines]
            if p.centered:
                out.append({"type": "centered", "text": "\n".join(lines)})
            elif lines and all(line.startswith("~") for line in lines):
                out.append({"type": "lyrics", "text": "\n".join(l[1:].strip() for l in lines)})
            else:
                out.append({"type": "action", "text": "\n".join(lines)})
    title_page = {key: "\n".join(values) for key, values in screenplay.title_page.items()}
    json.dump({"title_page": title_page, "elements": out}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
