"""Personal data in free text: what is found and replaced, and what must be left alone."""
from __future__ import annotations

import pytest

from kb.pii import Finding, Rules, excerpt, find, name_pattern, scrub

NAMES = ["Alice Smith", "Mark Jones", "Agent 3", "李伟", "Wang Fang", "Zoë O'Brien", "Service Desk"]


def kinds(text, names=NAMES, **kw):
    return [(f.kind, f.text) for f in find(text, names, **kw)]


@pytest.mark.parametrize("text,expected", [
    # names: full, single parts, case-insensitive, any spacing, Chinese script
    ("Reported by Alice Smith today", ("name", "Alice Smith")),
    ("reported by ALICE   SMITH today", ("name", "ALICE   SMITH")),
    ("smith said the VPN fails", ("name", "smith")),
    ("Ask Alice about it", ("name", "Alice")),
    ("Mark restarted the router", ("name", "Mark")),
    ("the account of Agent 3 is locked", ("name", "Agent 3")),
    ("李伟说打印机坏了", ("name", "李伟")),
    ("Fang called twice", ("name", "Fang")),
    # email
    ("write to alice.smith+vpn@contoso.co.uk please", ("email", "alice.smith+vpn@contoso.co.uk")),
    ("mail:bob_99@mail.example.org.", ("email", "bob_99@mail.example.org")),
    # phones, international and local
    ("call +44 20 7946 0958 now", ("phone", "+44 20 7946 0958")),
    ("call +1 (555) 123-4567", ("phone", "+1 (555) 123-4567")),
    ("call 0049 30 1234567", ("phone", "0049 30 1234567")),
    ("call (020) 7946 0958 ext 12", ("phone", "(020) 7946 0958 ext 12")),
    ("call 555-123-4567.", ("phone", "555-123-4567")),
    ("call 555.123.4567", ("phone", "555.123.4567")),
    ("手机 13800138000", ("phone", "13800138000")),
    ("office 010-12345678", ("phone", "010-12345678")),
    ("+86 138 0013 8000", ("phone", "+86 138 0013 8000")),
    ("ring 0207 946 0958", ("phone", "0207 946 0958")),
    # addresses
    ("gateway 192.168.1.20.", ("ip-address", "192.168.1.20")),
    ("subnet 10.20.30.0/24", ("ip-address", "10.20.30.0/24")),
    ("from fe80::1ff:fe23:4567:890a", ("ip-address", "fe80::1ff:fe23:4567:890a")),
    ("from 2001:0db8:85a3:0000:0000:8a2e:0370:7334 ok", ("ip-address", "2001:0db8:85a3:0000:0000:8a2e:0370:7334")),
    ("MAC 00:1A:2B:3C:4D:5E", ("mac-address", "00:1A:2B:3C:4D:5E")),
    ("MAC 00-1a-2b-3c-4d-5e.", ("mac-address", "00-1a-2b-3c-4d-5e")),
    ("switch shows 0011.2233.4455.", ("mac-address", "0011.2233.4455")),
    # host names
    ("my laptop LAPTOP-4F2K9 is slow", ("host", "LAPTOP-4F2K9")),
    ("PC-FIN-023 cannot print", ("host", "PC-FIN-023")),
    ("connect to srv-db-01", ("host", "srv-db-01")),
    ("on fin-pc-023 only", ("host", "fin-pc-023")),
    ("DESKTOP-7GH2KQ1 blue screen", ("host", "DESKTOP-7GH2KQ1")),
    ("server WIN-3K2J4L5M6N7 rebooted", ("host", "WIN-3K2J4L5M6N7")),
    ("open fileserver.corp.local", ("host", "fileserver.corp.local")),
    ("ping srv-db-01.contoso.com", ("host", "srv-db-01.contoso.com")),
    ("hostname: abc123", ("host", "abc123")),
    ("the computer name is FINLT042", ("host", "FINLT042")),
    # employee ids
    ("employee E123456 asked", ("employee-id", "E123456")),
    ("id EMP-00123", ("employee-id", "EMP-00123")),
    ("id EMP00123", ("employee-id", "EMP00123")),
])
def test_found(text, expected):
    assert expected in kinds(text)


@pytest.mark.parametrize("text", [
    "Ticket HD-2026-000123 was merged into HD-2025-004321",
    "Since 2026-03-14 10:30 and 14.03.2026, also 03/14/2026 at 10:30:15",
    "Windows 10.0.19045.2965, build 22631.3007, client v1.2.3.4 or version 4.10.05111",
    "Error 0x80070005, code -2147024891, error 809, event 4625, KB5034441",
    "Wi-Fi 6, COVID-19, Office-365, USB-C, x86-64, SHA-256, UTF-8, DB-9, T-Mobile, ISO-27001, GPT-4",
    "Visit support.microsoft.com or login.microsoftonline.com, run setup.exe, open report.docx",
    "Order 12345678 cost 1,234.56 in 2019 2020; room 12 and 34 56 78",
    "Please mark as read; the rose bush; will you check; the agent replied; Service desk hours",
    "Placeholders stay: [name] [email] [phone] [ip-address] [mac-address] [host] [employee-id]",
    "ratio 16:9 at 12:30, ref 12:34:56:78",
    "Use the Smithsonian app and the Alicexyz tool",
])
def test_left_alone(text):
    assert kinds(text) == []


def test_scrub_replaces_with_placeholders_and_reports():
    text = ("Hi, I'm Alice Smith (alice@contoso.example, +44 20 7946 0958, E123456). LAPTOP-4F2K9 at "
            "10.1.2.3 / 00:1A:2B:3C:4D:5E cannot reach HD-2026-000123's server.")
    clean, findings = scrub(text, NAMES)
    assert clean == ("Hi, I'm [name] ([email], [phone], [employee-id]). [host] at "
                     "[ip-address] / [mac-address] cannot reach HD-2026-000123's server.")
    assert [f.kind for f in findings] == ["name", "email", "phone", "employee-id", "host", "ip-address",
                                         "mac-address"]
    assert find(clean, NAMES) == []  # idempotent: placeholders are not personal data


def test_overlaps_keep_the_more_specific_kind():
    assert kinds("mail alice.smith@contoso.example") == [("email", "alice.smith@contoso.example")]
    assert kinds("host pc-alice-01 down") == [("host", "pc-alice-01")]


def test_a_date_in_front_does_not_hide_a_phone():
    assert kinds("on 2026-03-14 020 7946 0958 rang") == [("phone", "020 7946 0958")]


def test_positions_point_at_the_text():
    text = "ping 10.0.0.7 now"
    (f,) = find(text)
    assert f == Finding("ip-address", 5, 13, "10.0.0.7") and text[f.start:f.end] == f.text


def test_extra_literals_are_found_whatever_their_format():
    assert kinds("call 7946-09-58 x", extra=[("phone", "7946-09-58")]) == [("phone", "7946-09-58")]
    assert kinds("call 12 34", extra=[("phone", "12")]) == []  # too short to match literally


def test_employee_id_pattern_is_configurable(monkeypatch):
    assert kinds("badge AB-7781 and E123456", rules=Rules(employee_id=r"\bAB-\d{4}\b")) == [
        ("employee-id", "AB-7781")]
    monkeypatch.setenv("HELPDESK_EMPLOYEE_ID_PATTERN", r"\bX\d{6}\b")
    assert kinds("badge X123456") == [("employee-id", "X123456")]
    monkeypatch.setenv("HELPDESK_EMPLOYEE_ID_PATTERN", "(")
    with pytest.raises(ValueError, match="HELPDESK_EMPLOYEE_ID_PATTERN"):
        find("x")


def test_internal_domains_are_configurable():
    assert kinds("open intranet.contoso.com") == []
    assert kinds("open intranet.contoso.com", rules=Rules(internal_domains=("contoso.com",))) == [
        ("host", "intranet.contoso.com")]


def test_name_parts_rules():
    pattern = name_pattern(["Mark Jones", "Agent 3", "Al Li", "Service Desk"])
    assert pattern.search("Jones") and pattern.search("jones") and pattern.search("Mark")
    assert not pattern.search("mark it done")      # a common word: only capitalised
    assert not pattern.search("Agent replied")     # role words never alone
    assert not pattern.search("Service hours")
    assert not pattern.search("Al said")           # parts shorter than 3 letters
    assert name_pattern([]) is None and name_pattern(["", None]) is None


def test_excerpt_shows_the_match_in_context():
    text = "x" * 50 + " call alice@contoso.example today " + "y" * 50
    (f,) = find(text)
    before, match, after = excerpt(text, f, width=10)
    assert match == "alice@contoso.example" and before.startswith("…") and after.endswith("…")
    assert before.endswith("x call ") and after.startswith(" today")
