"""`flask triage eval|split` on small generated CSVs (hash embedder from the app fixture)."""
import csv
import json
import random
from collections import Counter

import pytest

KEYS = {"accuracy", "macro_f1", "top3_accuracy", "baseline_accuracy", "train_rows", "test_rows",
        "baseline_tfidf_accuracy", "baseline_tfidf_macro_f1", "model"}
VOCAB = {
    "GRP_net": "vpn wifi network cable router",
    "GRP_mail": "outlook email inbox calendar mailbox",
    "GRP_print": "printer toner paper scanner jam",
}


def write_csv(path, n_per_class, seed, extra_singleton=False):
    rng = random.Random(seed)
    rows = []
    for label, words in VOCAB.items():
        for i in range(n_per_class):
            short = " ".join(rng.choices(words.split(), k=3))
            rows.append({"short_description": short, "description": f"received from: u{i}@example.com\n{short} please help",
                         "caller": f"user {i}", "assignment_group": label})
    if extra_singleton:
        rows.append({"short_description": "odd one", "description": "odd one", "caller": "x", "assignment_group": "GRP_rare"})
    rng.shuffle(rows)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def eval_args(train, test, *extra):
    return ["triage", "eval", "--train", str(train), "--test", str(test), "--text-columns",
            "short_description,description", "--label-column", "assignment_group", *extra]


def test_eval_json_has_exactly_the_documented_keys(app, tmp_path):
    write_csv(tmp_path / "train.csv", 20, seed=1)
    write_csv(tmp_path / "test.csv", 5, seed=2)
    result = app.test_cli_runner().invoke(args=eval_args(tmp_path / "train.csv", tmp_path / "test.csv", "--json"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(data) == KEYS
    assert data["train_rows"] == 60 and data["test_rows"] == 15
    assert data["accuracy"] >= 0.9 and data["baseline_accuracy"] == pytest.approx(1 / 3)
    assert "hash" in data["model"]


def test_eval_table_and_saved_router(app, tmp_path):
    write_csv(tmp_path / "train.csv", 10, seed=1)
    write_csv(tmp_path / "test.csv", 3, seed=2)
    saved = tmp_path / "router.joblib"
    result = app.test_cli_runner().invoke(args=eval_args(tmp_path / "train.csv", tmp_path / "test.csv",
                                                          "--save", str(saved)))
    assert result.exit_code == 0, result.output
    assert "tf-idf + linear" in result.output and "majority class" in result.output
    assert saved.exists()


def test_eval_errors_are_clear(app, tmp_path):
    runner = app.test_cli_runner()
    write_csv(tmp_path / "train.csv", 5, seed=1)
    missing = runner.invoke(args=eval_args(tmp_path / "nope.csv", tmp_path / "train.csv"))
    assert missing.exit_code == 1 and "no such file" in missing.output
    bad_col = runner.invoke(args=["triage", "eval", "--train", str(tmp_path / "train.csv"), "--test",
                                  str(tmp_path / "train.csv"), "--text-columns", "subject", "--label-column",
                                  "assignment_group"])
    assert bad_col.exit_code == 1 and "missing column(s) subject" in bad_col.output
    (tmp_path / "empty.csv").write_text("")
    empty = runner.invoke(args=eval_args(tmp_path / "train.csv", tmp_path / "empty.csv"))
    assert empty.exit_code == 1 and "empty" in empty.output
    (tmp_path / "header.csv").write_text("short_description,description,assignment_group\n")
    no_rows = runner.invoke(args=eval_args(tmp_path / "train.csv", tmp_path / "header.csv"))
    assert no_rows.exit_code == 1 and "no rows" in no_rows.output


def read(path):
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_split_sizes_stratified_and_reproducible(app, tmp_path):
    rows = write_csv(tmp_path / "all.csv", 20, seed=3, extra_singleton=True)
    runner = app.test_cli_runner()
    args = ["triage", "split", str(tmp_path / "all.csv"), "--test-fraction", "0.2", "--seed", "42"]
    first = runner.invoke(args=args + ["--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    train, test = read(tmp_path / "a" / "train.csv"), read(tmp_path / "a" / "test.csv")
    assert len(train) + len(test) == len(rows) == 61 and len(test) == 12
    assert Counter(r["assignment_group"] for r in test) == {"GRP_net": 4, "GRP_mail": 4, "GRP_print": 4}
    assert any(r["assignment_group"] == "GRP_rare" for r in train)  # a singleton stays in training
    assert train[0]["description"].count("\n") == 1  # multi-line fields survive the round trip
    again = runner.invoke(args=args + ["--out", str(tmp_path / "b")])
    assert again.exit_code == 0
    assert read(tmp_path / "b" / "test.csv") == test
    other = runner.invoke(args=["triage", "split", str(tmp_path / "all.csv"), "--seed", "7", "--out", str(tmp_path / "c")])
    assert other.exit_code == 0 and read(tmp_path / "c" / "test.csv") != test


def test_split_errors(app, tmp_path):
    runner = app.test_cli_runner()
    write_csv(tmp_path / "all.csv", 3, seed=3)
    bad = runner.invoke(args=["triage", "split", str(tmp_path / "all.csv"), "--label-column", "team", "--out", str(tmp_path)])
    assert bad.exit_code == 1 and "missing column(s) team" in bad.output
    gone = runner.invoke(args=["triage", "split", str(tmp_path / "gone.csv"), "--out", str(tmp_path)])
    assert gone.exit_code == 1 and "no such file" in gone.output
