"""User-facing errors: printed as one clear message, never as a traceback."""

import difflib


class HarnessError(Exception):
    """An error caused by user input or environment, shown without traceback."""

    exit_code = 1


def unknown_name(kind, name, known):
    """Build the error for an unknown name, suggesting the closest known ones."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    listing = ", ".join(known) if known else "(none installed)"
    return HarnessError(f"Unknown {kind} '{name}'.{hint} Known {kind}s: {listing}")
