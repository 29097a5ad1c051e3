"""`flask triage split|eval`: make a reproducible split and measure the ticket router."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from kb.triage import Router, evaluate, join_fields, stratified_split, tfidf_baseline
from portal.search_ext import holder

group = AppGroup("triage", help="Ticket triage: routing and priority suggestions, and their evaluation.")


def _read_csv(path: str) -> tuple[list[str], list[dict]]:
    p = Path(path)
    if not p.is_file():
        raise click.ClickException(f"{path}: no such file")
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with p.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise click.ClickException(f"{path}: not a readable UTF-8 CSV file ({exc})") from None
    if not header:
        raise click.ClickException(f"{path}: the file is empty (no header row)")
    if not rows:
        raise click.ClickException(f"{path}: the file has a header but no rows")
    return header, rows


def _require(path: str, header: list[str], columns: list[str]) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise click.ClickException(f"{path}: missing column(s) {', '.join(missing)}; the file has {', '.join(header)}")


def _texts_labels(path: str, text_columns: list[str], label_column: str) -> tuple[list[str], list[str]]:
    header, rows = _read_csv(path)
    _require(path, header, text_columns + [label_column])
    rows = [r for r in rows if (r.get(label_column) or "").strip()]
    if not rows:
        raise click.ClickException(f"{path}: no row has a value in {label_column!r}")
    return ([join_fields(r.get(c) for c in text_columns) for r in rows],
            [r[label_column].strip() for r in rows])


class _Bars:
    """A click progress bar per embedding pass, on stderr so --json output stays clean."""

    def __init__(self):
        self.label = ""
        self.bar = None

    def phase(self, label: str) -> None:
        self.close()
        self.label = label

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=max(total, 1), label=self.label, show_pos=True, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@group.command("eval")
@click.option("--train", "train_path", required=True, help="CSV to train the router on.")
@click.option("--test", "test_path", required=True, help="CSV to report on.")
@click.option("--text-columns", required=True, help="Comma-separated columns joined into the ticket text.")
@click.option("--label-column", required=True, help="Column holding the label to predict.")
@click.option("--save", "save_path", type=click.Path(dir_okay=False), help="Also save the trained router here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate_command(train_path: str, test_path: str, text_columns: str, label_column: str,
                     save_path: str | None, as_json: bool) -> None:
    """Train the router on one file, report accuracy on the other, next to the baselines."""
    columns = [c.strip() for c in text_columns.split(",") if c.strip()]
    if not columns:
        raise click.ClickException("--text-columns names no column")
    train_texts, train_labels = _texts_labels(train_path, columns, label_column)
    test_texts, test_labels = _texts_labels(test_path, columns, label_column)
    if len(set(train_labels)) < 2:
        raise click.ClickException(f"{train_path}: need at least two different labels in {label_column!r}")

    bars = _Bars()
    router = Router(holder().embedder(), progress=bars)
    try:
        bars.phase(f"Embedding {len(train_texts)} training tickets")
        router.fit(train_texts, train_labels)
        bars.phase(f"Embedding {len(test_texts)} test tickets")
        result = evaluate(router, test_texts, test_labels)
    finally:
        bars.close()
    base = tfidf_baseline(train_texts, train_labels, test_texts, test_labels)
    result.update(baseline_tfidf_accuracy=base["accuracy"], baseline_tfidf_macro_f1=base["macro_f1"],
                  model=router.name)
    if save_path:
        router.save(save_path)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"model              {result['model']}")
    click.echo(f"rows               train {result['train_rows']}, test {result['test_rows']}")
    click.echo(f"{'':18} {'accuracy':>9} {'macro-F1':>9} {'top-3':>7}")
    click.echo(f"{'router':18} {result['accuracy']:9.4f} {result['macro_f1']:9.4f} {result['top3_accuracy']:7.4f}")
    click.echo(f"{'tf-idf + linear':18} {base['accuracy']:9.4f} {base['macro_f1']:9.4f} {'':>7}")
    click.echo(f"{'majority class':18} {result['baseline_accuracy']:9.4f}")


@group.command("split")
@click.argument("csv_path")
@click.option("--test-fraction", default=0.2, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True))
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--label-column", default=None, help="Column to stratify on (default: the last column).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for train.csv and test.csv.")
def split_command(csv_path: str, test_fraction: float, seed: int, label_column: str | None, out_dir: str) -> None:
    """Split a CSV into train.csv/test.csv, stratified by label where a label has ≥2 rows."""
    header, rows = _read_csv(csv_path)
    label_column = label_column or header[-1]
    _require(csv_path, header, [label_column])
    train, test = stratified_split(rows, [(r.get(label_column) or "").strip() for r in rows],
                                   test_fraction=test_fraction, seed=seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train.csv", train), ("test.csv", test)):
        with (out / name).open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(part)
    click.echo(f"Wrote {len(train)} rows to {out / 'train.csv'} and {len(test)} rows to {out / 'test.csv'} "
               f"(stratified on {label_column!r}, seed {seed}).")
