import pytest

from portal.config import ConfigError, Settings, resolve


def test_defaults_use_instance_folder(tmp_path):
    cfg = resolve(Settings.from_env({}), str(tmp_path / "inst"))
    assert cfg["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'inst' / 'helpdesk.db'}"
    assert cfg["INDEX_PATH"].endswith("index")
    assert len(cfg["SECRET_KEY"]) == 64


def test_secret_key_is_generated_once_and_private(tmp_path):
    first = resolve(Settings.from_env({}), str(tmp_path))["SECRET_KEY"]
    second = resolve(Settings.from_env({}), str(tmp_path))["SECRET_KEY"]
    assert first == second
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("name,value", [
    ("WORKER", "sometimes"),
    ("SEARCH_KEYWORD_WEIGHT", "heavy"),
    ("MAX_QUERY_CHARS", "-5"),
    ("SESSION_COOKIE_SECURE", "maybe"),
    ("DEFAULT_LOCALE", "fr"),
])
def test_bad_setting_names_the_variable(name, value):
    with pytest.raises(ConfigError, match=f"HELPDESK_{name}"):
        Settings.from_env({f"HELPDESK_{name}": value})


def test_bad_model_path_fails_at_start(tmp_path):
    with pytest.raises(ConfigError, match="HELPDESK_EMBEDDING_MODEL"):
        resolve(Settings.from_env({"HELPDESK_EMBEDDING_MODEL": str(tmp_path / "nope")}), str(tmp_path))


def test_int8_model_setting(tmp_path):
    """"int8" quantises the bundled model; "int8:PATH" a folder, which must exist."""
    for value in ("int8", f"int8:{tmp_path}"):
        cfg = resolve(Settings.from_env({"HELPDESK_EMBEDDING_MODEL": value}), str(tmp_path))
        assert cfg["EMBEDDING_MODEL"] == value
    with pytest.raises(ConfigError, match="HELPDESK_EMBEDDING_MODEL"):
        resolve(Settings.from_env({"HELPDESK_EMBEDDING_MODEL": f"int8:{tmp_path / 'nope'}"}), str(tmp_path))


def test_database_url_must_be_a_url(tmp_path):
    with pytest.raises(ConfigError, match="HELPDESK_DATABASE_URL"):
        resolve(Settings.from_env({"HELPDESK_DATABASE_URL": "helpdesk.db"}), str(tmp_path))


def test_create_app_reads_environment(monkeypatch, tmp_path):
    from portal import create_app

    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path / "i"))
    monkeypatch.setenv("HELPDESK_SUGGEST_LIMIT", "7")
    app = create_app()
    assert app.config["SUGGEST_LIMIT"] == 7
    assert app.instance_path == str(tmp_path / "i")
