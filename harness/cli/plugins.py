"""``harness plugins``: each installed plugin and what it registered."""

from __future__ import annotations

import json
import sys

import click

from harness.plugins import get_registry


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def plugins(as_json):
    """List installed plugins and what each registered.

    \b
    Example:
      harness plugins --json
    """
    reg = get_registry()
    data = [
        {"name": p.name, "module": p.module, "distribution": p.distribution, "version": p.version,
         "error": p.error or None,
         "registered": {kind: sorted(r.name for r in p.registrations if r.kind == kind)
                        for kind in ("tasks", "parsers", "models", "judges", "trainers", "commands")
                        if any(r.kind == kind for r in p.registrations)}}
        for p in reg.plugins.values()
    ]
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        for p in data:
            status = f"  FAILED: {p['error']}" if p["error"] else ""
            click.echo(f"{p['name']} ({p['module']}, {p['distribution']} {p['version']}){status}")
            for kind, names in p["registered"].items():
                click.echo(f"  {kind}: {', '.join(names)}")
    if any(p["error"] for p in data):
        sys.exit(1)


