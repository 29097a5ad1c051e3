"""In-app notifications belong to their recipient: counting, listing and marking read are
scoped to the actor, and bad input changes nothing."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kb.errors import NotFound, ValidationError
from kb.notifications import ALL, list_notifications, mark_read, notify, unread_count
from kb.ticket_records import Notification

T0 = datetime(2025, 3, 10, 9, tzinfo=timezone.utc)


@pytest.fixture
def two(make_user):
    return make_user("agent"), make_user("agent")


def test_notify_count_and_list_newest_first(session, two):
    me, other = two
    for i in range(3):
        notify(session, me.id, "sla_reminder", f"reminder {i}", now=T0 + timedelta(minutes=i))
    notify(session, other.id, "sla_reminder", "not yours", now=T0)
    assert unread_count(session, me) == 3 and unread_count(session, other) == 1
    page = list_notifications(session, me, page=1, per_page=2)
    assert [n.text for n in page.items] == ["reminder 2", "reminder 1"]
    assert (page.total, page.pages, page.has_next, page.has_prev) == (3, 2, True, False)
    assert [n.text for n in list_notifications(session, me, page=2, per_page=2).items] == ["reminder 0"]
    assert list_notifications(session, me, page=9, per_page=2).items == []


def test_mark_read_one_and_all(session, two):
    me, other = two
    a = notify(session, me.id, "x", "a", now=T0)
    notify(session, me.id, "x", "b", now=T0)
    theirs = notify(session, other.id, "x", "c", now=T0)
    assert mark_read(session, me, [a.id], now=T0) == 1
    assert unread_count(session, me) == 1
    assert mark_read(session, me, [a.id], now=T0) == 0  # already read: nothing to do
    assert mark_read(session, me, ALL, now=T0) == 1
    assert unread_count(session, me) == 0
    assert session.get(Notification, theirs.id).read_at is None
    assert [n.text for n in list_notifications(session, me, unread_only=True).items] == []


def test_someone_elses_notification_is_not_found_and_nothing_changes(session, two):
    me, other = two
    mine = notify(session, me.id, "x", "mine", now=T0)
    theirs = notify(session, other.id, "x", "theirs", now=T0)
    with pytest.raises(NotFound):
        mark_read(session, me, [mine.id, theirs.id])
    assert session.get(Notification, mine.id).read_at is None
    assert session.get(Notification, theirs.id).read_at is None
    with pytest.raises(NotFound):
        mark_read(session, me, [987654])


def test_anonymous_sees_nothing_and_cannot_mark(session, two):
    me, _ = two
    notify(session, me.id, "x", "hello", now=T0)
    assert unread_count(session, None) == 0
    assert list_notifications(session, None).items == []
    with pytest.raises(NotFound):
        mark_read(session, None, ALL)


def test_bad_input_is_refused_clearly(session, two):
    me, _ = two
    with pytest.raises(ValidationError) as exc:
        notify(session, me.id, "", "text")
    assert exc.value.field == "kind"
    with pytest.raises(ValidationError):
        notify(session, me.id, "k" * 31, "text")
    with pytest.raises(ValidationError) as exc:
        notify(session, me.id, "kind", "   ")
    assert exc.value.field == "text"
    with pytest.raises(ValidationError):
        notify(session, None, "kind", "text")
    with pytest.raises(ValidationError):
        mark_read(session, me, ["x"])
    with pytest.raises(ValidationError):
        list_notifications(session, me, page="two")
    assert unread_count(session, me) == 0
