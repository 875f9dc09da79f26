"""``harness overlap``: exact and near-duplicate prompts shared by a training side and eval tasks."""

from __future__ import annotations

import json

import click

from harness.cli.options import POSITIVE, Number, data_dir_option, deprecated_spelling
from harness.render.text import table

SUMMARY_COLUMNS = ["eval", "eval_size", "eval_distinct", "train_size", "train_distinct", "exact", "exact_distinct", "near",
                   "overlapping"]


@click.command(name="overlap")
@click.option("--train", "train_spec", required=True,
              help="Training side: a task name, or a JSON/JSONL file of records with a text field.")
@click.option("--eval", "eval_names", required=True, help="Eval task name(s), comma-separated.")
@click.option("--threshold", type=Number(float, min=0, max=1, min_open=True), default=0.8, show_default=True,
              help="Near-duplicate: Jaccard similarity of word n-gram shingle sets at least this.")
@click.option("--ngram", type=POSITIVE, default=3, show_default=True, help="Words per shingle.")
@click.option("--num-perm", type=POSITIVE, default=128, show_default=True, help="MinHash permutations.")
@click.option("--exact-only", is_flag=True, help="Skip the near-duplicate search.")
@click.option("--text-field", default=None, help="Training file: the field holding the text (default: text, else prompt).")
@click.option("--json", "as_json", is_flag=True, help="Print the reports (with every overlapping id) as JSON.")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), default=None,
              help="Write one JSON line per overlapping (eval id, train id) pair; `harness eval --exclude-ids` reads it.")
@deprecated_spelling("--out", "-o/--output", "out")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@data_dir_option
def overlap(train_spec, eval_names, threshold, ngram, num_perm, exact_only, text_field, as_json, out, quiet, data_dir):
    """Report eval prompts that also appear, exactly or nearly, on the training side.

    Texts are compared after NFKC, case-folding, removing punctuation and
    collapsing whitespace.  Exact: equal normalised text.  Near: Jaccard of word
    n-gram shingles >= --threshold, found with MinHash LSH and checked exactly.

    \b
    Examples:
      HARNESS_DATA_DIR=../shared/data harness overlap --train ../shared/data/wizard101/training/mega_train.json --eval wildguard
      harness overlap --train guardreasoner_test_5k --eval beavertails,toxicchat --threshold 0.7 -o overlap.jsonl
      harness eval --model exp_18 --task beavertails --exclude-ids overlap.jsonl
    """
    from harness.analysis.overlap import (
        OverlapSettings,
        check_overlap,
        task_texts,
        train_texts,
        write_pairs,
    )

    inputs = [train_spec, *(n.strip() for n in eval_names.split(",") if n.strip())]  # task files, if paths
    if out:
        from harness.store.outputs import check_output

        check_output(out, "--output", inputs)  # before the work
    settings = OverlapSettings(threshold=threshold, ngram=ngram, num_perm=num_perm, near=not exact_only)
    train = train_texts(train_spec, data_dir, text_field)
    evals = [task_texts(name.strip(), data_dir) for name in eval_names.split(",") if name.strip()]
    reports = check_overlap(train, evals, settings, progress=not quiet)
    if out:
        write_pairs(reports, out, option="--output", inputs=inputs)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2))
        return
    near = "off" if exact_only else f"Jaccard >= {threshold} on word {ngram}-grams, MinHash {num_perm} perms"
    click.echo(f"train: {train.name}; near-duplicates: {near}")
    click.echo(table([r.summary() for r in reports], SUMMARY_COLUMNS))
    for r in reports:
        if r.overlaps:
            shown = ", ".join(r.ids[:10]) + (f" ... ({len(r.overlaps)} in all)" if len(r.overlaps) > 10 else "")
            click.echo(f"{r.eval}: {shown}")
    if out:
        click.echo(f"pairs -> {out}")
