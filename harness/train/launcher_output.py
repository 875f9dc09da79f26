"""The output of ``accelerate launch`` as ``harness train`` passes it on: the ranks' lines, not torch's traceback.

When a rank fails it prints its own one-line ``Error: ...`` and exits 1; torch
elastic's agent in the launcher then raises ChildFailedError, whose Python
traceback and failure table would reach the user.  That block becomes one line.
Any other traceback passes unchanged (it would be a bug to report), and partial
lines (progress bars redrawn with ``\\r``) pass at once, so progress stays live.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

TRACEBACK = "Traceback (most recent call last):"
ELASTIC_FAILURE = "torch.distributed.elastic.multiprocessing.errors.ChildFailedError"
SUMMARY = ("Error: a training process failed (its own error is above); the launcher stopped the others. "
           "A checkpoint saved so far is kept: run the same command again to resume.\n")


class ElasticTracebackFilter:
    """Feed text in chunks, get back what to show: everything except torch elastic's failure traceback."""

    def __init__(self):
        self.partial = ""  # the unfinished last line, held only while it may begin a traceback
        self.held: list[str] | None = None  # the lines of a traceback being read
        self.dropping = False  # after ChildFailedError: the failure table, to the end

    def feed(self, text: str) -> str:
        out = []
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        for line in lines:
            out.append(self.line(line + "\n"))
        if self.partial and self.held is None and not self.dropping and not TRACEBACK.startswith(self.partial):
            out.append(self.partial)  # a progress bar's redraw: show it now
            self.partial = ""
        return "".join(out)

    def close(self) -> str:
        rest = self.line(self.partial) if self.partial else ""
        held, self.held = self.held, None
        return rest + ("".join(held) if held else "")

    def line(self, line: str) -> str:
        if self.dropping:
            return ""
        if self.held is None:
            if line.startswith(TRACEBACK):
                self.held = [line]
                return ""
            return line
        self.held.append(line)
        if line[:1].isspace() or line.startswith(TRACEBACK) or not line.strip():
            return ""  # still inside the traceback (frames, chained tracebacks, blank lines)
        held, self.held = self.held, None
        if line.startswith(ELASTIC_FAILURE):
            self.dropping = True
            return SUMMARY
        return "".join(held)  # another exception: shown as it is


def run_launcher(cmd: list[str], env: dict) -> int:
    """Run the launcher, pass its stderr through the filter, and return its exit code."""
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the launcher, which stops the ranks
    shown = ElasticTracebackFilter()
    try:
        while chunk := os.read(proc.stderr.fileno(), 65536):
            sys.stderr.write(shown.feed(chunk.decode("utf-8", errors="replace")))
            sys.stderr.flush()
        sys.stderr.write(shown.close())
        return proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
