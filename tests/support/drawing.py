"""Small PNG images drawn from code: the built-in image problems' pictures, and test images.

No imaging library: a canvas of RGB pixels, rectangles, a 3x5 digit font, and a PNG encoder
(zlib and CRC chunks, as the PNG specification defines them).  ``python -m
tests.support.drawing`` writes the built-in pictures into the package; a test checks the
shipped files are exactly what this code draws.
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

Color = tuple[int, int, int]
WHITE, BLACK, GREY, LIGHT = (255, 255, 255), (0, 0, 0), (120, 120, 120), (215, 215, 215)
COLORS: dict[str, Color] = {"red": (220, 30, 30), "green": (30, 170, 60), "blue": (30, 70, 220),
                            "yellow": (240, 210, 20), "black": BLACK}
IMAGES_DIR = Path(__file__).resolve().parents[2] / "llm_solutions" / "dataset" / "builtin" / "images"

_DIGITS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", "-": "000000111000000",
}


class Canvas:
    """RGB pixels, white to start."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = [[WHITE] * width for _ in range(height)]

    def rect(self, x: int, y: int, w: int, h: int, color: Color) -> None:
        for row in range(max(y, 0), min(y + h, self.height)):
            line = self.pixels[row]
            for col in range(max(x, 0), min(x + w, self.width)):
                line[col] = color

    def frame(self, x: int, y: int, w: int, h: int, color: Color = BLACK) -> None:
        self.rect(x, y, w, 1, color)
        self.rect(x, y + h - 1, w, 1, color)
        self.rect(x, y, 1, h, color)
        self.rect(x + w - 1, y, 1, h, color)

    def text(self, x: int, y: int, digits: str, scale: int = 4, color: Color = BLACK) -> None:
        """Digits (and '-') in the 3x5 font, ``scale`` pixels per font pixel, one column apart."""
        for index, char in enumerate(digits):
            bits = _DIGITS[char]
            left = x + index * 4 * scale
            for bit in range(15):
                if bits[bit] == "1":
                    self.rect(left + (bit % 3) * scale, y + (bit // 3) * scale, scale, scale, color)

    def png(self) -> bytes:
        return encode_png(self.pixels)


def encode_png(pixels: list[list[Color]]) -> bytes:
    """An 8-bit RGB PNG of ``pixels`` (rows of (r, g, b))."""
    height, width = len(pixels), len(pixels[0])
    raw = b"".join(b"\x00" + bytes(channel for pixel in row for channel in pixel) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def table(rows: list[list[int]], cell: tuple[int, int] = (64, 36)) -> bytes:
    """A grid of cells holding numbers, one list per row."""
    w, h = cell
    canvas = Canvas(len(rows[0]) * w + 1, len(rows) * h + 1)
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            canvas.frame(c * w, r * h, w + 1, h + 1)
            text = str(value)
            canvas.text(c * w + (w - (len(text) * 16 - 4)) // 2, r * h + 8, text)
    return canvas.png()


def bar_chart(heights: list[int], unit: int = 20, bar: int = 24, gap: int = 16) -> bytes:
    """Bars on a grid whose light lines are one unit apart, with a baseline."""
    top = max(heights) + 1
    canvas = Canvas(gap + len(heights) * (bar + gap), top * unit + 1)
    for level in range(top + 1):
        canvas.rect(0, level * unit, canvas.width, 1, LIGHT)
    for index, value in enumerate(heights):
        canvas.rect(gap + index * (bar + gap), (top - value) * unit, bar, value * unit, GREY)
    canvas.rect(0, top * unit, canvas.width, 1, BLACK)
    return canvas.png()


def cell_grid(cells: list[str], size: int = 24) -> bytes:
    """A grid of black ('1') and white ('0') squares, outlined."""
    canvas = Canvas(len(cells[0]) * size + 1, len(cells) * size + 1)
    for r, row in enumerate(cells):
        for c, bit in enumerate(row):
            if bit == "1":
                canvas.rect(c * size, r * size, size, size, BLACK)
            canvas.frame(c * size, r * size, size + 1, size + 1, GREY)
    return canvas.png()


def color_strip(names: list[str], size: int = 40, gap: int = 10) -> bytes:
    """Colored squares in a row."""
    canvas = Canvas(gap + len(names) * (size + gap), size + 2 * gap)
    for index, name in enumerate(names):
        canvas.rect(gap + index * (size + gap), gap, size, size, COLORS[name])
    return canvas.png()


#: The built-in image problems' pictures: file name -> PNG bytes.
BUILTIN_IMAGES = {
    "linear_table.png": lambda: table([[0, 1, 2, 3, 4, 5], [2, 5, 8, 11, 14, 17]]),
    "bar_chart.png": lambda: bar_chart([3, 7, 2, 5, 8, 4]),
    "cell_grid.png": lambda: cell_grid(["100001", "010010", "001100", "001100", "010010", "100001"]),
    "color_strip.png": lambda: color_strip(["red", "green", "blue", "yellow", "red", "black", "blue"]),
    "lookup_table.png": lambda: table([[3, 40], [7, 12], [10, 5], [25, 99], [31, -8]], cell=(72, 36)),
}


def write_builtin_images(folder: Path = IMAGES_DIR) -> list[Path]:
    """Write every built-in picture into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in BUILTIN_IMAGES.items():
        path = folder / name
        path.write_bytes(draw())
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_builtin_images(Path(sys.argv[1]) if len(sys.argv) > 1 else IMAGES_DIR):
        print(written_path, written_path.stat().st_size, "bytes")
