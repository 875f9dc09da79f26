"""``harness models``: checkpoint names, lineage and model loaders."""

from __future__ import annotations

import json

import click

from harness.plugins import get_registry
from harness.render.text import table


@click.command()
@click.option("--tree", is_flag=True, help="Show checkpoints under their parents (lineage).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def models(tree, as_json):
    """List checkpoint names, where each points, and the installed model loaders.

    \b
    Examples:
      harness models
      harness models --tree
    """
    from harness.checkpoints.registry import lineage_tree, load_registry

    entries = load_registry()
    if as_json:
        loaders = {n: r.description for n, r in get_registry().items["models"].items()}
        click.echo(json.dumps({"checkpoints": entries, "loaders": loaders}, indent=2))
        return
    if tree:
        click.echo("\n".join(lineage_tree(entries)))
        return
    rows = [{"name": n, "spec": e.get("spec") or f"(planned: {e['planned']})", "parser": e.get("parser"),
             "parent": e.get("parent"), "from": e["source"]} for n, e in entries.items()]
    click.echo(table(rows, ["name", "spec", "parser", "parent", "from"]))
    click.echo("\nmodel loaders: " + ", ".join(
        f"{n} ({r.description})" for n, r in sorted(get_registry().items["models"].items())))


