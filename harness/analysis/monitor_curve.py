"""The over-optimisation monitor's curve for ``harness report``: where a checkpoint's monitor.jsonl is,
its rows as typed points, and the lines to draw (issue 22).

``harness train`` with a ``monitor:`` section writes ``monitor.jsonl`` beside
the checkpoint and names it in the registry lineage (``lineage.monitor.file``).
The curve is the proxy reward, every other judge and the accuracy against the
training step: the proxy rising while the others fall is the picture of Gao et
al. (2022), the rows the rule of :mod:`harness.train.monitor` reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

#: the curve's non-judge lines, in order: (label, MonitorPoint field)
EXTRA_LINES = (("accuracy", "accuracy"),)


def monitor_file(model: str | None) -> tuple[Path | None, dict]:
    """(the monitor.jsonl of registry checkpoint ``model``, its lineage's monitor summary): the summary's
    ``file``, else ``monitor.jsonl`` in the checkpoint folder ($HARNESS_HOME/checkpoints/NAME); (None, {})
    when there is none."""
    from harness.checkpoints.registry import harness_home, load_registry

    if not model:
        return None, {}
    try:
        entry = load_registry().get(model)
    except HarnessError:
        return None, {}
    if entry is None:
        return None, {}
    summary = (entry.get("lineage") or {}).get("monitor") or {}
    candidates = [Path(summary["file"])] if summary.get("file") else []
    candidates.append(harness_home() / "checkpoints" / model / "monitor.jsonl")
    return next((p for p in candidates if p.is_file()), None), summary


@dataclass
class MonitorCurve:
    """The lines of one monitor file: x = step, one y list per line (proxy first)."""

    path: Path
    steps: list
    lines: dict  # label -> y per step
    gaming_steps: list


def read_curve(path) -> MonitorCurve:
    """The curve of a monitor.jsonl; a malformed row is a HarnessError naming its file and line."""
    from harness.train.monitor import MonitorPoint

    path = Path(path)
    points = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            points.append(MonitorPoint.from_dict(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            raise HarnessError(f"{path}:{n}: not a monitor row ({type(exc).__name__}: {exc}); expected the "
                               "rows `harness train` writes with a monitor: section") from None
    if not points:
        raise HarnessError(f"{path}: the monitor file has no rows")
    points.sort(key=lambda p: p.step)
    judges = list(dict.fromkeys(label for p in points for label in p.judges))
    lines = {"proxy": [p.proxy for p in points]}
    lines.update({label: [p.judges.get(label) for p in points] for label in judges})
    lines.update({label: [getattr(p, field) for p in points] for label, field in EXTRA_LINES})
    return MonitorCurve(path, [p.step for p in points], lines, [p.step for p in points if p.gaming])


def curve_svg(curve: MonitorCurve, proxy_label: str | None = None) -> str:
    """The curve as an inline SVG (:func:`harness.render.html.series_chart`)."""
    from harness.render import html as htmlkit

    lines = dict(curve.lines)
    if proxy_label:
        lines = {(f"proxy: {proxy_label}" if k == "proxy" else k): v for k, v in lines.items()}
    return htmlkit.series_chart("Training monitor", curve.steps, lines, xlabel="optimizer step",
                                ylabel="mean score", marks=curve.gaming_steps)
