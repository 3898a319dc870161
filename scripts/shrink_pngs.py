"""Make the PNG pictures in a folder smaller, in place: `python scripts/shrink_pngs.py DIR`.

Chromium and pdftoppm write full-colour PNGs with light compression. A screenshot of a
page has few colours: mapped onto a palette of 256 (no dithering, so text stays crisp)
and compressed at Pillow's best, it is about half the size. A picture is only replaced
when the result is smaller.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image


def shrink(path: Path) -> tuple[int, int]:
    """Rewrite `path` smaller if possible; return its size before and after."""
    before = path.stat().st_size
    with Image.open(path) as picture:
        picture.load()
        smaller: Image.Image
        if picture.mode == "P":
            smaller = picture
        else:
            smaller = picture.convert("RGB").quantize(
                256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
            )
    buffer = io.BytesIO()
    smaller.save(buffer, "PNG", optimize=True)
    if buffer.tell() >= before:
        return before, before
    path.write_bytes(buffer.getvalue())
    return before, buffer.tell()


def main(folder: str) -> None:
    total_before = total_after = 0
    for path in sorted(Path(folder).glob("*.png")):
        before, after = shrink(path)
        total_before += before
        total_after += after
    print(f"{folder}: {total_before // 1024} KB of PNG → {total_after // 1024} KB")


if __name__ == "__main__":
    main(sys.argv[1])
