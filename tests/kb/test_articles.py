"""Article services: validation, revisions, the lifecycle table, visibility, votes and diffs."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kb import articles
from kb.articles_models import STATUSES, Article, ArticleRevision, Tag
from kb.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from kb.jobs import Job

BODY = "## Steps\n\n1. Open the VPN client.\n2. Choose *Connect*.\n"


def new_article(session, actor, **overrides):
    values = dict(title="VPN will not connect", body=BODY, category="network", subcategory="vpn-remote",
                  tags=["VPN", " Remote Work ", "vpn"], audience="public", lang="en")
    values.update(overrides)
    article = articles.create_article(session, actor, **values)
    session.commit()
    return article


def jobs_for(session, article):
    return session.scalar(select(func.count(Job.id)).where(Job.target_id == article.id)) or 0


def publish(session, agent, lead, article):
    articles.transition_article(session, agent, article, "in_review")
    articles.transition_article(session, lead, article, "published")
    session.commit()
    return article


def test_create_makes_a_draft_with_revision_one(session, make_user):
    agent = make_user("agent")
    article = new_article(session, agent, note="First version")
    assert article.status == "draft" and article.author_id == agent.id
    assert article.tag_names == ["remote work", "vpn"]
    assert article.category.slug == "network" and article.subcategory.slug == "vpn-remote"
    [rev] = article.revisions
    assert (rev.number, rev.title, rev.body, rev.status, rev.note, rev.author_id) == (
        1, "VPN will not connect", BODY, "draft", "First version", agent.id)
    assert rev.tags == "remote work,vpn"
    assert jobs_for(session, article) == 1


@pytest.mark.parametrize("overrides, field", [
    ({"title": "ab"}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"body": "   \n"}, "body"),
    ({"body": "é" * (110 * 1024)}, "body"),  # 220 KB in UTF-8
    ({"category": "nope"}, "category"),
    ({"category": "vpn-remote", "subcategory": None}, "category"),  # a subcategory is not a category
    ({"category": "hardware", "subcategory": "vpn-remote"}, "subcategory"),
    ({"subcategory": "does-not-exist"}, "subcategory"),
    ({"tags": [f"t{i}" for i in range(21)]}, "tags"),
    ({"tags": ["x" * 61]}, "tags"),
    ({"audience": "everyone"}, "audience"),
    ({"lang": "fr"}, "lang"),
    ({"note": "n" * 501}, "note"),
])
def test_invalid_content_is_refused_with_the_field(session, make_user, overrides, field):
    agent = make_user("agent")
    with pytest.raises(ValidationError) as info:
        new_article(session, agent, **overrides)
    assert info.value.field == field
    session.rollback()
    assert session.scalar(select(func.count(Article.id))) == 0


def test_tags_accept_a_comma_string_and_are_normalised():
    assert articles.normalize_tags(" Printer ,  paper   jam,,PRINTER ") == ("printer", "paper jam")
    assert articles.normalize_tags(None) == ()


@pytest.mark.parametrize("role", [None, "requester"])
def test_only_editors_create(session, make_user, role):
    actor = make_user(role) if role else None
    with pytest.raises(PermissionDenied):
        new_article(session, actor)


def test_update_records_the_next_revision_with_full_content(session, make_user):
    agent, trainer = make_user("agent"), make_user("trainer")
    article = new_article(session, agent)
    articles.update_article(session, trainer, article, title="VPN does not connect", body=BODY + "3. Wait.\n",
                            category="network", subcategory="vpn-remote", tags="vpn", audience="internal",
                            lang="en", note="Added a step", base_revision=1)
    session.commit()
    revs = article.revisions
    assert [r.number for r in revs] == [1, 2]
    assert (revs[1].title, revs[1].audience, revs[1].tags, revs[1].note, revs[1].author_id) == (
        "VPN does not connect", "internal", "vpn", "Added a step", trainer.id)
    assert revs[0].title == "VPN will not connect"  # the old content is kept
    assert article.tag_names == ["vpn"] and article.audience == "internal"
    assert jobs_for(session, article) == 2


def test_an_edit_that_changes_nothing_records_nothing(session, make_user):
    agent = make_user("agent")
    article = new_article(session, agent)
    articles.update_article(session, agent, article, title=" VPN  will not connect ", body=BODY, category="network",
                            subcategory="vpn-remote", tags="vpn, remote work", audience="public", lang="en")
    assert len(article.revisions) == 1


def test_a_stale_edit_is_refused(session, make_user):
    agent = make_user("agent")
    article = new_article(session, agent)
    fields = dict(body=BODY, category="network", subcategory="vpn-remote", tags="vpn", audience="public", lang="en")
    articles.update_article(session, agent, article, title="Second title", base_revision=1, **fields)
    with pytest.raises(InvalidTransition, match="changed this article"):
        articles.update_article(session, agent, article, title="Third title", base_revision=1, **fields)


def test_editing_a_published_article_keeps_it_published(session, make_user):
    agent, lead = make_user("agent"), make_user("lead")
    article = publish(session, agent, lead, new_article(session, agent))
    articles.update_article(session, agent, article, title="VPN will not connect (Windows)", body=BODY,
                            category="network", subcategory="vpn-remote", tags="vpn", audience="public", lang="en",
                            note="Typo")
    assert article.status == "published"
    assert article.revisions[-1].status == "published" and article.revisions[-1].note == "Typo"


def test_archived_articles_are_edited_by_reviewers_only(session, make_user):
    agent, lead = make_user("agent"), make_user("lead")
    article = publish(session, agent, lead, new_article(session, agent))
    articles.transition_article(session, lead, article, "archived")
    fields = dict(title="Old VPN", body=BODY, category="network", tags="", audience="public", lang="en")
    with pytest.raises(PermissionDenied):
        articles.update_article(session, agent, article, **fields)
    articles.update_article(session, lead, article, **fields)
    assert article.status == "archived"


def test_lifecycle_table_names_only_known_statuses():
    for src, targets in articles.TRANSITIONS.items():
        assert src in STATUSES and set(targets) <= set(STATUSES)
        assert all(roles for roles in targets.values())


def test_full_lifecycle_records_a_revision_per_change(session, make_user):
    agent, lead = make_user("agent"), make_user("lead")
    article = new_article(session, agent)
    assert articles.allowed_transitions(agent, article) == ["in_review"]
    articles.transition_article(session, agent, article, "in_review", "Ready")
    assert articles.allowed_transitions(agent, article) == []
    assert set(articles.allowed_transitions(lead, article)) == {"published", "draft"}
    articles.transition_article(session, lead, article, "draft", "Add a screenshot")
    articles.transition_article(session, agent, article, "in_review")
    articles.transition_article(session, lead, article, "published")
    assert article.published_at is not None
    articles.transition_article(session, lead, article, "archived")
    articles.transition_article(session, lead, article, "draft")
    session.commit()
    assert [r.status for r in article.revisions] == ["draft", "in_review", "draft", "in_review", "published",
                                                     "archived", "draft"]
    assert article.revisions[2].note == "Add a screenshot" and article.revisions[2].author_id == lead.id
    assert article.revisions[1].note == "Ready"
    assert "→" in article.revisions[3].note  # status changes without a note say what happened
    assert jobs_for(session, article) == 7


def test_transitions_outside_the_table_are_invalid(session, make_user):
    agent, lead = make_user("agent"), make_user("lead")
    article = new_article(session, agent)
    with pytest.raises(InvalidTransition, match="cannot become published"):
        articles.transition_article(session, lead, article, "published")
    with pytest.raises(InvalidTransition, match="cannot become archived"):
        articles.transition_article(session, lead, article, "archived")
    with pytest.raises(InvalidTransition):
        articles.transition_article(session, lead, article, "deleted")
    assert article.status == "draft" and len(article.revisions) == 1


def test_roles_outside_the_table_are_refused(session, make_user):
    agent, trainer, lead, requester = make_user("agent"), make_user("trainer"), make_user("lead"), make_user()
    article = new_article(session, agent)
    articles.transition_article(session, trainer, article, "in_review")
    for who in (agent, trainer):
        with pytest.raises(PermissionDenied):
            articles.transition_article(session, who, article, "published")
    with pytest.raises(NotFound):  # requesters cannot even see a draft
        articles.transition_article(session, requester, article, "published")
    articles.transition_article(session, lead, article, "published")
    with pytest.raises(PermissionDenied):
        articles.transition_article(session, requester, article, "archived")
    with pytest.raises(PermissionDenied):
        articles.transition_article(session, agent, article, "archived")


def test_returning_needs_a_note(session, make_user):
    agent, admin = make_user("agent"), make_user("admin")
    article = new_article(session, agent)
    articles.transition_article(session, agent, article, "in_review")
    with pytest.raises(ValidationError) as info:
        articles.transition_article(session, admin, article, "draft", "  ")
    assert info.value.field == "note"
    articles.transition_article(session, admin, article, "draft", "Needs steps for macOS")
    assert article.status == "draft"


@pytest.mark.parametrize("status, audience, visible_to_requester", [
    ("published", "public", True), ("published", "internal", False), ("draft", "public", False),
    ("in_review", "public", False), ("archived", "public", False),
])
def test_get_article_hides_what_the_actor_may_not_see(session, make_user, make_article, status, audience,
                                                     visible_to_requester):
    article = make_article(status=status, audience=audience)
    requester, agent = make_user("requester"), make_user("agent")
    assert articles.get_article(session, agent, article.id) is article
    for who in (None, requester):
        if visible_to_requester:
            assert articles.get_article(session, who, article.id) is article
        else:
            with pytest.raises(NotFound):
                articles.get_article(session, who, article.id)
    with pytest.raises(NotFound):
        articles.get_article(session, agent, 999999)


def test_list_articles_for_browsing(session, make_user, make_article):
    make_article(title="Public VPN", category="network", subcategory="vpn-remote")
    make_article(title="Internal VPN", category="network", subcategory="vpn-remote", audience="internal")
    make_article(title="Draft Wi-Fi", category="network", subcategory="wifi", status="draft")
    make_article(title="Printer", category="hardware")
    requester, agent = make_user(), make_user("agent")

    def titles(who, **kw):
        return sorted(a.title for a in articles.list_articles(session, who, **kw).items)

    assert titles(None) == ["Printer", "Public VPN"]
    assert titles(requester, status="draft") == ["Printer", "Public VPN"]  # non-staff: published only
    assert titles(agent) == ["Internal VPN", "Printer", "Public VPN"]
    assert titles(agent, status="draft") == ["Draft Wi-Fi"]
    assert titles(agent, status="all", category="network") == ["Draft Wi-Fi", "Internal VPN", "Public VPN"]
    assert titles(None, category="vpn-remote") == ["Public VPN"]
    with pytest.raises(NotFound):
        articles.list_articles(session, None, category="nope")
    counts = articles.category_counts(session, None)
    network = session.scalar(select(Article.category_id).where(Article.title == "Public VPN"))
    assert counts[network] == 1


def test_list_articles_paginates(session, make_article):
    for i in range(25):
        make_article(title=f"Article {i:02d}")
    page = articles.list_articles(session, None, page=2, per_page=10)
    assert (page.total, page.pages, len(page.items), page.has_prev, page.has_next) == (25, 3, 10, True, True)
    assert len(articles.list_articles(session, None, page=3, per_page=10).items) == 5


def test_record_view_counts_without_touching_updated_at(session, make_article):
    article = make_article()
    before = article.updated_at
    articles.record_view(session, article)
    articles.record_view(session, article)
    session.commit()
    session.expire_all()
    fresh = session.get(Article, article.id)
    assert fresh.view_count == 2 and fresh.updated_at == before


def test_one_vote_per_voter_and_changeable(session, make_article):
    article = make_article()
    articles.vote_article(session, "user:1", article, True)
    articles.vote_article(session, "user:1", article, True)
    articles.vote_article(session, "anon:abc", article, True)
    assert articles.vote_counts(session, article) == articles.VoteCounts(helpful=2, not_helpful=0)
    articles.vote_article(session, "anon:abc", article, False)
    counts = articles.vote_counts(session, article)
    assert (counts.helpful, counts.not_helpful, counts.total, counts.percent_helpful) == (1, 1, 2, 50)


def test_only_published_articles_take_votes(session, make_article):
    with pytest.raises(ValidationError):
        articles.vote_article(session, "user:1", make_article(status="draft"), True)
    with pytest.raises(ValidationError):
        articles.vote_article(session, "", make_article(), True)


def test_review_queue_is_for_reviewers(session, make_user, make_article):
    agent, lead = make_user("agent"), make_user("lead")
    waiting = make_article(title="Waiting", status="in_review")
    make_article(title="Live")
    assert articles.review_queue(session, lead) == [waiting]
    with pytest.raises(PermissionDenied):
        articles.review_queue(session, agent)


def test_history_is_for_staff(session, make_user, make_article):
    article = make_article()
    with pytest.raises(PermissionDenied):
        articles.history(session, make_user(), article)
    with pytest.raises(NotFound):
        articles.get_revision(session, make_user("agent"), article, 7)


def test_revision_diff_is_structured(session, make_user):
    agent = make_user("agent")
    article = new_article(session, agent, body="line one\nline two\nline three\n")
    articles.update_article(session, agent, article, title="VPN never connects", body="line one\nline 2\nline three\n",
                            category="network", subcategory="wifi", tags="vpn", audience="public", lang="en")
    old, new = article.revisions
    diff = articles.revision_diff(old, new)
    assert (diff.old_number, diff.new_number, diff.added, diff.removed) == (1, 2, 2, 2)
    kinds = [(line.kind, line.text) for hunk in diff.hunks for line in hunk.lines]
    assert ("del", "VPN will not connect") in kinds and ("add", "VPN never connects") in kinds
    assert ("del", "line two") in kinds and ("add", "line 2") in kinds and ("context", "line one") in kinds
    changed = {f.field: (f.old, f.new) for f in diff.fields}
    assert changed == {"subcategory": ("vpn-remote", "wifi"), "tags": ("remote work,vpn", "vpn")}
    assert not articles.revision_diff(old, old).changed


def test_tags_are_shared_rows(session, make_user):
    agent = make_user("agent")
    new_article(session, agent, tags=["vpn"])
    new_article(session, agent, title="Another VPN", tags=["VPN"])
    assert session.scalar(select(func.count(Tag.id)).where(Tag.name == "vpn")) == 1


def test_revision_times_are_utc(session, make_user, ):
    article = new_article(session, make_user("agent"))
    rev = session.scalar(select(ArticleRevision).where(ArticleRevision.article_id == article.id))
    assert rev.created_at.utcoffset() == timedelta(0)


def test_tags_split_on_chinese_commas_too():
    from kb.articles import normalize_tags

    assert normalize_tags("打印机，卡纸、扫描; VPN ,vpn") == ("打印机", "卡纸", "扫描", "vpn")
