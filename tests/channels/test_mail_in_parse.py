"""Reading incoming mail (kb.mail_parse): pure functions on raw bytes, no database."""
from __future__ import annotations

from email.message import EmailMessage

import pytest

from kb.mail_parse import (Unreadable, clean_subject, header_summary, html_to_text, parse_message,
                           strip_reply)


def mail(body="Hello", *, sender="Ann <ann@example.test>", subject="Printer", html=None, headers=None,
         files=()) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "help@desk.test"
    msg["Subject"] = subject
    msg["Message-ID"] = "<m1@example.test>"
    for key, value in (headers or {}).items():
        msg[key] = value
    if body is not None:
        msg.set_content(body)
        if html:
            msg.add_alternative(html, subtype="html")
    elif html:
        msg.set_content(html, subtype="html")
    for name, data, maintype, subtype in files:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def test_prefers_plain_text_and_keeps_the_sender_and_ids():
    parsed = parse_message(mail("Plain words", html="<p>HTML words</p>").as_bytes())
    assert parsed.text == "Plain words"
    assert (parsed.from_addr, parsed.from_name) == ("ann@example.test", "Ann")
    assert parsed.message_key == parsed.message_id == "m1@example.test"
    assert parsed.automatic is None


def test_html_only_is_turned_into_text_without_markup_or_script():
    html = ("<html><head><style>p{color:red}</style></head><body><p>First &amp; <b>bold</b></p>"
            "<script>alert('x')</script><img src=x onerror=alert(1)><div>Second<br>line</div></body></html>")
    parsed = parse_message(mail(None, html=html).as_bytes())
    assert parsed.text == "First & bold\n\nSecond\nline"
    assert "<" not in parsed.text and "alert" not in parsed.text and "color" not in parsed.text


def test_html_reply_drops_the_quoted_blocks():
    html = ('<div>It works now.</div><div class="gmail_quote"><div class="gmail_attr">On Mon, Helpdesk '
            'wrote:</div><blockquote>We changed the toner.</blockquote></div>')
    parsed = parse_message(mail(None, html=html).as_bytes())
    assert parsed.reply_text == "It works now."
    assert "toner" in parsed.text  # a new ticket keeps everything


@pytest.mark.parametrize("text", [
    "Still broken.\n\nOn Mon, 5 Jan 2026 at 10:00, Helpdesk <help@desk.test> wrote:\n> We fixed it.\n",
    "Still broken.\n\nOn Mon, 5 Jan 2026 at 10:00, Helpdesk <help@desk.test>\nwrote:\n> We fixed it.\n",
    "Still broken.\n\n-----Original Message-----\nFrom: Helpdesk\nSent: Monday\nWe fixed it.",
    "Still broken.\n\n________________________________\nFrom: Helpdesk <help@desk.test>\nSent: Monday\nTo: Ann\n",
    "Still broken.\n\nFrom: Helpdesk <help@desk.test>\nSent: Monday, 5 January 2026 10:00\nTo: Ann\nWe fixed it.",
    "Still broken.\n\nAm 05.01.2026 um 10:00 schrieb Helpdesk <help@desk.test>:\n> Wir haben es behoben.",
    "Still broken.\n\nVon: Helpdesk <help@desk.test>\nGesendet: Montag, 5. Januar 2026\nAn: Ann\n",
    "Still broken.\n\n在 2026年1月5日 周一 10:00，Helpdesk <help@desk.test> 写道：\n> 已修复",
    "Still broken.\n\n发件人: Helpdesk <help@desk.test>\n发送时间: 2026年1月5日 10:00\n收件人: Ann\n已修复",
    "Still broken.\n\n-- \nAnn Example\nAccounts, room 4",
    "Still broken.\n\nSent from my iPhone\n\n> We fixed it.",
    "Still broken.\n> We fixed it.\n> Please confirm.",
])
def test_reply_loses_quoted_history_and_signature(text):
    assert strip_reply(text) == "Still broken."


def test_interleaved_answers_keep_the_own_lines():
    assert strip_reply("> Which printer?\nThe one on floor 2.\n> Since when?\nMonday.") == \
        "The one on floor 2.\nMonday."


def test_text_that_only_mentions_writing_is_kept():
    text = "On Monday I wrote: the report, and it crashed.\nFrom: the menu, I chose Print."
    assert strip_reply(text) == text


def test_attachments_are_kept_and_the_body_is_not_one():
    msg = mail("See the log", html="<p>See the log</p>",
               files=[("app.log", b"line 1\n", "text", "plain"), ("shot.png", b"\x89PNG\r\n\x1a\n", "image", "png")])
    parsed = parse_message(msg.as_bytes())
    assert parsed.attachments == [("app.log", b"line 1\n"), ("shot.png", b"\x89PNG\r\n\x1a\n")]


def test_inline_logo_is_not_an_attachment_but_a_forwarded_mail_is():
    msg = mail("Body", html='<p>Body</p><img src="cid:logo">')
    msg.get_body(("html",)).add_related(b"\x89PNG\r\n\x1a\n", maintype="image", subtype="png", cid="<logo>")
    inner = mail("The original", subject="Original")
    msg.add_attachment(inner)
    parsed = parse_message(msg.as_bytes())
    assert [name for name, _ in parsed.attachments] == ["Original.eml"]
    assert b"The original" in parsed.attachments[0][1]


@pytest.mark.parametrize("headers, why", [
    ({"Auto-Submitted": "auto-replied"}, "Auto-Submitted"),
    ({"Precedence": "bulk"}, "Precedence"),
    ({"Precedence": "junk"}, "Precedence"),
    ({"X-Autoreply": "yes"}, "X-Autoreply"),
    ({"X-Autorespond": "yes"}, "X-Autorespond"),
    ({"Return-Path": "<>"}, "bounce"),
])
def test_machine_mail_is_recognised(headers, why):
    assert why in parse_message(mail(headers=headers).as_bytes()).automatic


def test_auto_submitted_no_is_a_person():
    assert parse_message(mail(headers={"Auto-Submitted": "no"}).as_bytes()).automatic is None


def test_bounces_by_sender_and_delivery_reports():
    assert "mailer-daemon" in parse_message(mail(sender="MAILER-DAEMON@mx.example.test").as_bytes()).automatic
    report = (b"From: Mail System <postbox@mx.example.test>\r\nSubject: Undelivered Mail\r\n"
              b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n"
              b"--b1\r\nContent-Type: text/plain\r\n\r\nIt bounced.\r\n"
              b"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
              b"Final-Recipient: rfc822; x@example.test\r\nAction: failed\r\n--b1--\r\n")
    assert parse_message(report).automatic == "delivery or read report"


def test_our_own_address_is_a_loop():
    raw = mail(sender="Helpdesk <help@desk.test>").as_bytes()
    assert "loop" in parse_message(raw, frozenset({"help@desk.test"})).automatic


@pytest.mark.parametrize("raw, why", [
    (b"this is not an email at all\x00\xff\xfe", "no sender"),
    (b"Subject: hi\r\n\r\nno sender here", "no sender"),
    (b"From: not an address\r\nSubject: x\r\n\r\nbody", "not valid"),
    (b"From: a@example.test, b@example.test\r\nSubject: x\r\n\r\nbody", "more than one sender"),
])
def test_unusable_messages_say_why(raw, why):
    with pytest.raises(Unreadable, match=why):
        parse_message(raw)


def test_eight_bit_junk_in_headers_becomes_safe_text():
    raw = b"From: ann@example.test\r\nSubject: caf\xe9 \x01 broken\r\nMessage-ID: <j@x>\r\n\r\nbody \xff"
    parsed = parse_message(raw)
    assert parsed.subject.encode("utf-8") and "\x01" not in parsed.subject
    assert parsed.text.startswith("body")


def test_header_summary_never_raises_and_keys_without_message_id_are_digests():
    key, sender, subject = header_summary(b"\x00\xff garbage")
    assert key.startswith("sha256:") and sender == "" and subject == ""
    assert header_summary(mail().as_bytes())[:2] == ("m1@example.test", "ann@example.test")


def test_subject_cleaning():
    assert clean_subject("Re: AW: 回复: Fwd: Printer [HD-2026-000012:abcdef0123] broken") == "Printer broken"
    assert html_to_text("") == ""


def test_chinese_charsets_and_encoded_subjects_are_decoded():
    raw = ("From: =?gb2312?b?1cXI/Q==?= <zhang@example.test>\r\n"
           "Subject: =?gb2312?b?tPLTobv6u7XByw==?=\r\nMessage-ID: <zh@x>\r\n"
           "Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode("ascii") \
        + "打印机坏了，无法打印。".encode("gb2312")
    parsed = parse_message(raw)
    assert (parsed.from_name, parsed.subject, parsed.text) == ("张三", "打印机坏了", "打印机坏了，无法打印。")


def test_unknown_charset_falls_back_to_utf8_with_replacement():
    raw = (b"From: ann@example.test\r\nSubject: x\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
           b"caf\xc3\xa9 \xff")
    assert parse_message(raw).text == "café \ufffd"
