import json
from pathlib import Path

STACKFAQ = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "stackfaq"
KEYS = {"backend", "mode", "ndcg@10", "recall@5", "recall@10", "mrr@10", "queries", "latency_ms"}


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


def test_eval_on_the_postgresql_backend_leaves_no_tables(tmp_path):
    """`flask search eval --backend postgresql` indexes stackfaq in tables of its own (FTS and
    pgvector on pgserver) and drops them; the figures are those of docs/benchmarks.md."""
    import psycopg

    from portal.search_ext import libpq_url
    from tests import pg
    from tests.conftest import make_app

    name = pg.new_database()
    try:
        app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=pg.url(name))
        result = app.test_cli_runner().invoke(args=["search", "eval", str(STACKFAQ), "--mode", "keyword",
                                                    "--backend", "postgresql", "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output.strip().splitlines()[-1])
        assert data["backend"] == "postgresql" and data["queries"] == 1250
        assert data["ndcg@10"] > 0.7
        with psycopg.connect(libpq_url(pg.url(name))) as conn:
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'eval%'").fetchone()[0] == 0
    finally:
        pg.drop_database(name)


def test_eval_postgresql_backend_needs_postgresql(app):
    result = app.test_cli_runner().invoke(args=["search", "eval", str(STACKFAQ), "--backend", "postgresql"])
    assert result.exit_code != 0 and "PostgreSQL" in result.output
