def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_checks_database_index_and_model(client):
    resp = client.get("/readyz")
    body = resp.get_json()
    assert resp.status_code == 200, body
    assert set(body["checks"]) == {"database", "index", "model"}
    assert body["status"] == "ready"


def test_readyz_reports_a_broken_index(app, client, tmp_path):
    import json
    from pathlib import Path

    holder = app.extensions["helpdesk_search"]
    holder.engine  # create the index
    holder.close()
    index = Path(app.config["INDEX_PATH"])
    for manifest in index.rglob("manifest.json"):
        data = json.loads(manifest.read_text())
        data["embedder"] = "some-other-model"
        manifest.write_text(json.dumps(data))
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert "reindex" in resp.get_json()["checks"]["index"]


def test_error_pages_are_helpful(client):
    resp = client.get("/no/such/page")
    assert resp.status_code == 404
    assert "could not find" in resp.get_data(as_text=True)
    api = client.get("/api/no-such-thing")
    assert api.status_code == 404
    assert api.get_json()["error"]["status"] == 404
