from types import SimpleNamespace

import pytest

from kb import permissions as p


def person(role, active=True):
    return SimpleNamespace(role=role, is_authenticated=True, is_active=active)


def art(status="published", audience="public"):
    return SimpleNamespace(status=status, audience=audience)


@pytest.mark.parametrize("who,expected", [
    (None, {"public"}), (person("requester"), {"public"}), (person("agent"), {"public", "internal"}),
    (person("lead"), {"public", "internal"}), (person("trainer"), {"public", "internal"}),
    (person("admin"), {"public", "internal"}), (person("agent", active=False), {"public"}),
])
def test_search_filters_match_view_permission(who, expected):
    filters = p.article_search_filters(who)
    assert filters["status"] == {"published"}
    assert filters.get("audience", {"public", "internal"}) == expected
    for audience in ("public", "internal"):
        assert p.can_view_article(who, art(audience=audience)) == (audience in expected)


def test_drafts_are_staff_only():
    assert not p.can_view_article(None, art(status="draft"))
    assert not p.can_view_article(person("requester"), art(status="in_review"))
    assert p.can_view_article(person("agent"), art(status="draft"))


def test_only_leads_and_admins_review_and_only_admins_manage_users():
    assert [r for r in ("requester", "agent", "lead", "trainer", "admin") if p.can_review_article(person(r))] == [
        "lead", "admin"]
    assert [r for r in ("requester", "agent", "lead", "trainer", "admin") if p.can_manage_users(person(r))] == [
        "admin"]
    assert not p.can_manage_users(None)
