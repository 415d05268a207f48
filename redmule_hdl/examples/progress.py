"""A one-line text progress bar for long example runs (drawn only on a terminal)."""
import sys
import time

__all__ = ["Progress"]


class Progress:
    """``update(note=...)`` after each of ``total`` units; draws ``label [#####.....] i/total note``
    on ``stream`` (default stderr) when it is a terminal, or always with ``enabled=True``."""

    def __init__(self, total, label, *, stream=None, enabled=None, width=30):
        self.total = max(int(total), 1)
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.enabled = isatty() if enabled is None else bool(enabled)
        self.width = width
        self.done = 0
        self.t0 = time.monotonic()

    def update(self, n=1, note=""):
        self.done = min(self.done + n, self.total)
        if not self.enabled:
            return
        fill = self.width * self.done // self.total
        elapsed = time.monotonic() - self.t0
        self.stream.write(f"\r{self.label} [{'#' * fill}{'.' * (self.width - fill)}] "
                          f"{self.done}/{self.total} {elapsed:5.0f} s {note}\033[K")
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
