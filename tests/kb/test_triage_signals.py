"""Critical-signal rules: positives in three languages, and the negatives that must not fire."""
import pytest

from kb.triage import RULES, find_signals, suggest_priority
from kb.triage.signals import IMPACT_KEYS, URGENCY_KEYS


def rules(text, **kw):
    return {s.rule for s in find_signals(text, **kw)}


@pytest.mark.parametrize("text, rule, phrase", [
    ("We had data loss on the shared drive", "data_loss", "data loss"),
    ("Data-loss after the update!", "data_loss", "data-loss"),
    ("The ERP system is down since 8am", "system_down", "system is down"),
    ("Outlook crashes whenever I open a calendar", "crash", "crashes"),
    ("This affects all users in Munich", "all_users", "all users"),
    ("Datenverlust auf dem Laufwerk H:", "data_loss", "datenverlust"),
    ("Outlook stürzt ständig ab", "crash", "stürzt ständig ab"),
    ("Alle Mitarbeiter sind betroffen", "all_users", "alle mitarbeiter"),
    ("系统崩溃了，请尽快处理", "system_down", "系统崩溃"),
    ("升级后数据丢失", "data_loss", "数据丢失"),
    ("所有用户都无法登录", "all_users", "所有用户"),
    ("请问如何设置打印机", "question", "请问"),
])
def test_positive_signals_name_the_phrase(text, rule, phrase):
    found = {s.rule: s for s in find_signals(text)}
    assert rule in found
    assert found[rule].phrase == phrase
    assert found[rule].reason == f"mentions '{phrase}'"


@pytest.mark.parametrize("text", [
    "my crashplan backup did not start",          # word boundary: crashplan is not crash
    "please book me on the Excel crash course",    # exception phrase
    "cannot download the file",                    # "down" inside a word
    "shutdown takes forever",
    "the data loss prevention (DLP) agent blocks my attachment",
    "hello everyone, my mouse is broken",          # a greeting is not "all users"
    "small users group meeting",                   # "all users" inside a word
])
def test_negatives_do_not_fire_critical_rules(text):
    assert not rules(text) & {"data_loss", "system_down", "crash", "all_users"}


@pytest.mark.parametrize("text, rule", [
    ("there was no data loss", "data_loss"),
    ("the app did not crash, it is just slow", "crash"),
    ("the laptop didn't crash", "crash"),
    ("without data loss, luckily", "data_loss"),
    ("not all users are affected, only me", "all_users"),
    ("kein Datenverlust", "data_loss"),
    ("Outlook ist nicht abgestürzt", "crash"),
    ("没有数据丢失", "data_loss"),
    ("系统没有崩溃", "crash"),
])
def test_negated_mentions_are_reported_but_ignored(text, rule):
    assert rule not in rules(text)
    negated = {s.rule: s for s in find_signals(text, include_negated=True)}
    assert negated[rule].negated and "negated" in negated[rule].reason


def test_negation_stops_at_the_clause():
    assert "system_down" in rules("No data loss, but the server is down")
    assert "all_users" in rules("no idea why. all users are locked out")
    # "无法" (cannot) is not a negation of what follows
    assert "data_loss" in rules("文件无法打开数据丢失")


def test_rules_use_known_levels():
    for rule in RULES:
        assert rule.impact in (None, *IMPACT_KEYS) and rule.urgency in (None, *URGENCY_KEYS)
        assert rule.en and rule.de and rule.zh, f"{rule.id} must cover English, German and Chinese"


@pytest.mark.parametrize("text, priority", [
    ("Server is down, all users affected", "High"),
    ("data loss on the file share", "High"),
    ("系统崩溃", "High"),
    ("Datenverlust", "High"),
    ("my mouse is broken", "Medium"),
    ("there was no data loss, the mouse is broken", "Medium"),
    ("how do I change my e-mail signature?", "Low"),
    ("how do I recover files? all users lost data", "High"),  # a question does not lower a crisis
])
def test_suggest_priority_combines_signals_and_defaults(text, priority):
    s = suggest_priority(text)
    assert s.priority == priority, s.reason
    assert "→ " + priority in s.reason


def test_suggest_priority_reason_quotes_the_phrase():
    s = suggest_priority("We had data loss after the update")
    assert "mentions 'data loss'" in s.reason and s.impact == "all" and s.urgency == "stopped"
    quiet = suggest_priority("printer jam")
    assert "default" in quiet.reason and quiet.signals == ()
