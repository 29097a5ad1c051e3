import json
from pathlib import Path

STACKFAQ = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "stackfaq"
KEYS = {"mode", "ndcg@10", "recall@5", "recall@10", "mrr@10", "queries", "latency_ms"}


def test_eval_json_has_exactly_the_documented_keys(app):
    assert STACKFAQ.exists(), f"evaluation data expected at {STACKFAQ}"
    result = app.test_cli_runner().invoke(args=["search", "eval", str(STACKFAQ), "--mode", "keyword", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    assert set(data) == KEYS
    assert set(data["latency_ms"]) == {"p50", "p95"}
    assert data["mode"] == "keyword" and data["queries"] == 1250
    assert 0.7 < data["ndcg@10"] <= 1.0


def test_eval_table_and_bad_dataset(app, tmp_path):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["search", "eval", str(tmp_path / "nope")]).exit_code != 0
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "title": "t", "text": "x"}\n{broken\n')
    bad = runner.invoke(args=["search", "eval", str(tmp_path), "--mode", "keyword"])
    assert bad.exit_code == 1 and "Cannot evaluate" in bad.output and "BEIR" in bad.output
