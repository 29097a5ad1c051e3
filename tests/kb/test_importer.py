"""Importing a knowledge base: JSONL and front-matter folders, idempotent, record by record."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from kb import importer
from kb.articles_models import Article, ArticleRevision
from kb.demo import ARTICLES_DIR
from kb.errors import ValidationError
from kb.importer import detect_lang, import_path, parse_front_matter
from kb.jobs import Job


def record(**overrides):
    data = {"title": "Printer shows paper jam", "body": "Open tray 2 and remove the paper.", "category": "hardware",
            "subcategory": "printers-scanners", "tags": ["printer", "jam"], "source_id": "p-1"}
    data.update(overrides)
    return data


def write_jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")
    return path


def titles(session):
    return sorted(session.scalars(select(Article.title)))


def count(session, model):
    return session.scalar(select(func.count(model.id))) or 0


def test_jsonl_good_records_go_in_and_bad_ones_are_reported(session, tmp_path):
    path = write_jsonl(tmp_path / "articles.jsonl", [
        record(),
        "{not json",
        record(title="", source_id="p-2"),
        record(title="Unknown category", category="plumbing", source_id="p-3"),
        "",
        record(title="Wi-Fi drops", category="network", subcategory="wifi", tags="wifi, Signal", source_id=None,
               **{"source id": "w-1"}),
        record(title="VPN slow", category="network", subcategory="vpn-remote", source_id=None, id=42),
        record(title="Wrong sub", subcategory="wifi", source_id="p-4"),
        ["a list"],
        record(title="No id", source_id=None),
        record(title="Duplicate", source_id="p-1"),
    ])
    report = import_path(session, path)
    session.commit()
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    where = dict(report.errors)
    assert set(where) == {"articles.jsonl:2", "articles.jsonl:3", "articles.jsonl:4", "articles.jsonl:8",
                          "articles.jsonl:9", "articles.jsonl:10", "articles.jsonl:11"}
    assert "JSON" in where["articles.jsonl:2"]
    assert "title" in where["articles.jsonl:3"]
    assert "plumbing" in where["articles.jsonl:4"]
    assert "subcategory" in where["articles.jsonl:8"]
    assert "source_id" in where["articles.jsonl:10"] and "articles.jsonl:1" in where["articles.jsonl:11"]
    assert titles(session) == ["Printer shows paper jam", "VPN slow", "Wi-Fi drops"]
    wifi = session.scalar(select(Article).where(Article.source_id == "w-1"))
    assert wifi.tag_names == ["signal", "wifi"] and wifi.status == "published" and wifi.published_at is not None
    assert session.scalar(select(Article.source_id).where(Article.title == "VPN slow")) == "42"
    assert count(session, Job) == 3  # one index job per created article


def test_reimport_updates_changed_records_and_leaves_the_rest(session, tmp_path, make_user):
    author = make_user("agent")
    path = write_jsonl(tmp_path / "kb.jsonl", [record(), record(title="Toner low", source_id="p-2")])
    import_path(session, path, author=author, status="draft")
    session.commit()
    jobs_before = count(session, Job)
    path = write_jsonl(path, [record(body="Open tray 2, remove the paper, close it."),
                              record(title="Toner low", source_id="p-2")])
    report = import_path(session, path, author=author, status="published")
    session.commit()
    assert (report.created, report.updated, report.unchanged, report.errors) == (0, 1, 1, [])
    changed = session.scalar(select(Article).where(Article.source_id == "p-1"))
    assert [r.number for r in changed.revisions] == [1, 2]
    assert changed.revisions[1].note.startswith("Re-imported from kb.jsonl:1")
    assert changed.status == "draft"  # the lifecycle owns the status after the first import
    assert count(session, Article) == 2 and count(session, Job) == jobs_before + 1


def test_a_failing_record_is_never_half_imported(session, tmp_path, monkeypatch):
    real_insert = importer.insert_article

    def insert_then_fail(session, author, fields, **kw):
        article = real_insert(session, author, fields, **kw)  # rows and an index job are flushed...
        if fields.title == "Explodes":
            raise ValidationError("boom after insert")  # ...and must be rolled back with the savepoint
        return article

    monkeypatch.setattr(importer, "insert_article", insert_then_fail)
    path = write_jsonl(tmp_path / "a.jsonl", [record(), record(title="Explodes", source_id="x", tags=["new-tag"]),
                                              record(title="After", source_id="p-3")])
    report = import_path(session, path)
    session.commit()
    assert report.errors == [("a.jsonl:2", "boom after insert")]
    assert titles(session) == ["After", "Printer shows paper jam"]
    assert count(session, ArticleRevision) == 2 and count(session, Job) == 2


def test_folder_of_markdown_and_html(session, tmp_path):
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("---\ntitle: Reset a password\ncategory: access\nsubcategory: accounts-passwords\n"
                                 "tags: password, reset\naudience: internal\nsource_id: md-1\n---\n# Reset\n\nDo it.\n",
                                 encoding="utf-8")
    (folder / "sub" / "b.html").write_text(
        "---\ntitle: Printer jam\ncategory: hardware\n---\n<h2>Fix</h2><p>Open <b>tray 2</b>.</p>"
        "<script>alert('x')</script><ul><li>Pull gently</li></ul>", encoding="utf-8")
    (folder / "c.md").write_text("# No front matter\n", encoding="utf-8")
    (folder / "d.md").write_text("---\ntitle: Never closed\ncategory: access\n", encoding="utf-8")
    (folder / "notes.txt").write_text("ignored", encoding="utf-8")
    seen = []
    report = import_path(session, folder, progress=lambda done, total: seen.append((done, total)))
    session.commit()
    assert (report.created, len(report.errors)) == (2, 2), report.errors
    assert {where for where, _ in report.errors} == {"export/c.md", "export/d.md"}
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    md = session.scalar(select(Article).where(Article.source_id == "md-1"))
    assert md.audience == "internal" and md.subcategory.slug == "accounts-passwords" and md.body.startswith("# Reset")
    html = session.scalar(select(Article).where(Article.title == "Printer jam"))
    assert html.source_id == "file:export/sub/b.html"
    assert "## Fix" in html.body and "**tray 2**" in html.body and "- Pull gently" in html.body
    assert "alert" not in html.body and "<" not in html.body
    again = import_path(session, folder)
    assert (again.created, again.unchanged) == (0, 2)


def test_language_is_detected_when_not_given(session, tmp_path):
    path = write_jsonl(tmp_path / "zh.jsonl", [
        record(title="打印机卡纸怎么办", body="打开二号纸盒，取出卡住的纸张。", source_id="zh-1"),
        record(title="Printer jam", body="Open tray 2. 中文 is mentioned once.", source_id="en-1"),
        record(title="Explicit", body="中文内容", lang="en", source_id="en-2"),
    ])
    import_path(session, path)
    langs = dict(session.execute(select(Article.source_id, Article.lang)).all())
    assert langs == {"zh-1": "zh", "en-1": "en", "en-2": "en"}
    assert detect_lang("") == "en"


def test_front_matter_parsing():
    meta, body = parse_front_matter('---\nTitle: "Quoted: yes"\nSource ID: s-1\n---\nBody\n')
    assert meta == {"title": "Quoted: yes", "source_id": "s-1"} and body == "Body"
    with pytest.raises(ValueError):
        parse_front_matter("---\nnot a pair\n---\n")


def test_bad_arguments(session, tmp_path):
    with pytest.raises(ValidationError):
        import_path(session, tmp_path / "missing.jsonl")
    with pytest.raises(ValidationError):
        import_path(session, tmp_path, status="archived")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(ValidationError):
        import_path(session, tmp_path / "x.csv")


def test_demo_articles_import_cleanly_and_idempotently(session):
    report = import_path(session, ARTICLES_DIR)
    session.commit()
    assert report.errors == [] and report.created == len(list(ARTICLES_DIR.glob("*.md"))) > 0
    assert session.scalar(select(func.count(Article.id)).where(Article.lang == "zh")) > 0
    again = import_path(session, ARTICLES_DIR)
    assert (again.created, again.updated, again.unchanged) == (0, 0, report.created)


def test_cli_import_reports_and_exits_1_on_rejects(app, session, tmp_path):
    path = write_jsonl(tmp_path / "cli.jsonl", [record(), record(title="Bad", category="nope", source_id="b")])
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["kb", "import", str(path), "--dry-run"])
    assert dry.exit_code == 1 and "Dry run" in dry.output and "cli.jsonl:2" in dry.output
    assert count(session, Article) == 0
    result = runner.invoke(args=["kb", "import", str(path), "--status", "draft"])
    assert result.exit_code == 1, result.output
    assert "1 created" in result.output and "rejected cli.jsonl:2" in result.output and "nope" in result.output
    assert session.scalar(select(Article.status)) == "draft"
    good = write_jsonl(tmp_path / "good.jsonl", [record()])
    ok = runner.invoke(args=["kb", "import", str(good)])
    assert ok.exit_code == 0 and "1 unchanged" in ok.output


def test_a_leading_heading_repeating_the_title_is_dropped_or_becomes_the_title(session, tmp_path):
    folder = tmp_path / "wiki"
    folder.mkdir()
    (folder / "a.md").write_text("---\ntitle: Printer paper jam\ncategory: hardware\nsource_id: a\n---\n"
                                 "# Printer paper jam\n\n## Steps\nOpen tray 2.\n")
    (folder / "b.md").write_text("---\ncategory: network\nsource_id: b\n---\n# VPN drops every hour\n\nRenew it.\n")
    (folder / "c.md").write_text("---\ntitle: Wi-Fi\ncategory: network\nsource_id: c\n---\n# Guest access\n\nAsk.\n")
    report = import_path(session, folder)
    assert report.errors == []
    rows = {a.source_id: a for a in session.scalars(select(Article))}
    assert rows["a"].title == "Printer paper jam" and rows["a"].body.startswith("## Steps")
    assert rows["b"].title == "VPN drops every hour" and rows["b"].body.strip() == "Renew it."
    assert rows["c"].body.startswith("# Guest access")  # a different heading is content, kept


def test_demo_articles_do_not_repeat_their_title_in_the_body(session):
    import_path(session, ARTICLES_DIR)
    assert all(not a.body.lstrip().startswith(f"# {a.title}") for a in session.scalars(select(Article)))
