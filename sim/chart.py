"""Bar charts as PNG without plotting libraries: a numpy canvas, a 5x7 bitmap font and a PNG writer.

``write_png(path, rgb)`` writes an ``(height, width, 3)`` ``uint8`` array (8-bit RGB, zlib-compressed,
filter type 0). ``grouped_bars`` draws one panel of grouped bars with axis, grid, labels and legend.
"""
import struct
import zlib

import numpy as np

__all__ = ["write_png", "Canvas", "grouped_bars"]


def write_png(path, rgb):
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (height, width, 3) array, got shape {rgb.shape}")
    height, width, _ = rgb.shape
    raw = np.zeros((height, 1 + 3 * width), np.uint8)     # filter byte 0 per row
    raw[:, 1:] = rgb.reshape(height, -1)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFF_FFFF))

    png = (b"\x89PNG\r\n\x1a\n"
           + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
           + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


# 5x7 glyphs: seven rows of five bits (bit 4 = leftmost column).
_FONT = {
    " ": (0, 0, 0, 0, 0, 0, 0),
    "0": (14, 17, 19, 21, 25, 17, 14), "1": (4, 12, 4, 4, 4, 4, 14),
    "2": (14, 17, 1, 2, 4, 8, 31), "3": (31, 2, 4, 2, 1, 17, 14),
    "4": (2, 6, 10, 18, 31, 2, 2), "5": (31, 16, 30, 1, 1, 17, 14),
    "6": (6, 8, 16, 30, 17, 17, 14), "7": (31, 1, 2, 4, 8, 8, 8),
    "8": (14, 17, 17, 14, 17, 17, 14), "9": (14, 17, 17, 15, 1, 2, 12),
    "A": (14, 17, 17, 31, 17, 17, 17), "B": (30, 17, 17, 30, 17, 17, 30),
    "C": (14, 17, 16, 16, 16, 17, 14), "D": (28, 18, 17, 17, 17, 18, 28),
    "E": (31, 16, 16, 30, 16, 16, 31), "F": (31, 16, 16, 30, 16, 16, 16),
    "G": (14, 17, 16, 23, 17, 17, 15), "H": (17, 17, 17, 31, 17, 17, 17),
    "I": (14, 4, 4, 4, 4, 4, 14), "J": (7, 2, 2, 2, 2, 18, 12),
    "K": (17, 18, 20, 24, 20, 18, 17), "L": (16, 16, 16, 16, 16, 16, 31),
    "M": (17, 27, 21, 21, 17, 17, 17), "N": (17, 17, 25, 21, 19, 17, 17),
    "O": (14, 17, 17, 17, 17, 17, 14), "P": (30, 17, 17, 30, 16, 16, 16),
    "Q": (14, 17, 17, 17, 21, 18, 13), "R": (30, 17, 17, 30, 20, 18, 17),
    "S": (15, 16, 16, 14, 1, 1, 30), "T": (31, 4, 4, 4, 4, 4, 4),
    "U": (17, 17, 17, 17, 17, 17, 14), "V": (17, 17, 17, 17, 17, 10, 4),
    "W": (17, 17, 17, 21, 21, 21, 10), "X": (17, 17, 10, 4, 10, 17, 17),
    "Y": (17, 17, 17, 10, 4, 4, 4), "Z": (31, 1, 2, 4, 8, 16, 31),
    "x": (0, 0, 17, 10, 4, 10, 17), "%": (24, 25, 2, 4, 8, 19, 3),
    ".": (0, 0, 0, 0, 0, 12, 12), ",": (0, 0, 0, 0, 12, 4, 8),
    ":": (0, 12, 12, 0, 12, 12, 0), "-": (0, 0, 0, 31, 0, 0, 0),
    "/": (0, 1, 2, 4, 8, 16, 0), "(": (2, 4, 8, 8, 8, 4, 2), ")": (8, 4, 2, 2, 2, 4, 8),
    "=": (0, 0, 31, 0, 31, 0, 0), "+": (0, 4, 4, 31, 4, 4, 0), "^": (4, 10, 17, 0, 0, 0, 0),
}


def _glyph(ch):
    rows = _FONT.get(ch, _FONT.get(ch.upper(), _FONT[" "]))
    return np.array([[(r >> (4 - c)) & 1 for c in range(5)] for r in rows], dtype=bool)


def text_mask(text, scale=1):
    """Boolean bitmap of ``text`` (6 px per character incl. spacing, 7 px high) times ``scale``."""
    mask = np.zeros((7, 6 * max(len(text), 1)), dtype=bool)
    for i, ch in enumerate(text):
        mask[:, 6 * i:6 * i + 5] = _glyph(ch)
    return np.kron(mask, np.ones((scale, scale), dtype=bool)) if scale > 1 else mask


class Canvas:
    def __init__(self, width, height, background=(255, 255, 255)):
        self.rgb = np.empty((height, width, 3), np.uint8)
        self.rgb[:] = background
        self.texts = []     # (x0, y0, x1, y1, text) of every text drawn: a layout can be checked

    @property
    def height(self):
        return self.rgb.shape[0]

    @property
    def width(self):
        return self.rgb.shape[1]

    def rect(self, x0, y0, x1, y1, color):
        x0, x1 = sorted((int(round(x0)), int(round(x1))))
        y0, y1 = sorted((int(round(y0)), int(round(y1))))
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.width), min(y1, self.height)
        if x1 > x0 and y1 > y0:
            self.rgb[y0:y1, x0:x1] = color

    def text(self, x, y, text, color=(0, 0, 0), scale=1, anchor="left", vertical=False):
        """Draw ``text`` with its top-left (``anchor`` left), top-centre or top-right at (x, y);
        ``vertical`` rotates it by 90 degrees (reading upwards, anchored at its bottom)."""
        mask = text_mask(text, scale)
        if vertical:
            mask = np.rot90(mask)
            h, w = mask.shape
            x0, y0 = int(x) - w // 2, int(y) - h
        else:
            h, w = mask.shape
            x0 = int(x) - {"left": 0, "center": w // 2, "right": w}[anchor]
            y0 = int(y)
        self.texts.append((x0, y0, x0 + w, y0 + h, text))
        ys, xs = np.nonzero(mask)
        ys, xs = ys + y0, xs + x0
        keep = (ys >= 0) & (ys < self.height) & (xs >= 0) & (xs < self.width)
        self.rgb[ys[keep], xs[keep]] = color

    def save(self, path):
        write_png(path, self.rgb)


def panel_width(title, series):
    """Pixels the title (scale 2) and the legend line of a ``grouped_bars`` panel need."""
    legend = sum(14 + 6 * len(name) + 16 for name, _, _ in series)
    return max(12 * len(title), legend)


def grouped_bars(canvas, box, labels, series, *, title, y_max, y_ticks, tick_format,
                 reference=None):
    """One panel: ``series`` is a list of ``(name, values, color)``; ``box`` = (x0, y0, x1, y1) of the
    plot area; ``reference`` an optional y value drawn as a dark line (e.g. ratio 1)."""
    x0, y0, x1, y1 = box
    grid, axis = (225, 225, 225), (60, 60, 60)

    def ypos(v):
        return y1 - (y1 - y0) * min(max(v, 0.0), y_max) / y_max

    for t in y_ticks:
        canvas.rect(x0, ypos(t), x1, ypos(t) + 1, grid)
        canvas.text(x0 - 6, ypos(t) - 3, tick_format(t), axis, anchor="right")
    n, k = len(labels), len(series)
    group = (x1 - x0) / n
    bar = max(1.0, (group * 0.8) / k)
    for i, label in enumerate(labels):
        left = x0 + i * group + group * 0.1
        for j, (_, values, color) in enumerate(series):
            v = values[i]
            if v is not None and v == v:
                canvas.rect(left + j * bar, ypos(v), left + (j + 1) * bar - 1, y1, color)
        canvas.text(x0 + (i + 0.5) * group, y1 + 6 + 6 * len(label), label, axis, vertical=True)
    if reference is not None:
        canvas.rect(x0, ypos(reference), x1, ypos(reference) + 2, (200, 40, 40))
    canvas.rect(x0, y0, x0 + 1, y1 + 1, axis)
    canvas.rect(x0, y1, x1, y1 + 1, axis)
    # Title, then the legend on its own line below it: neither depends on the panel's width.
    canvas.text(x0, y0 - 44, title, (0, 0, 0), scale=2)
    lx = x0
    for name, _, color in series:
        canvas.rect(lx, y0 - 20, lx + 10, y0 - 10, color)
        canvas.text(lx + 14, y0 - 19, name, axis)
        lx += 14 + 6 * len(name) + 16
