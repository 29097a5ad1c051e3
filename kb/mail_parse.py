"""Reading an incoming email: who sent it, what it says, what it answers, what it carries.

Pure functions over the raw bytes (no database), so the rules are tested on messages built
in memory. :mod:`kb.mail_in` decides what to do with the result.

- The body prefers ``text/plain``; an HTML-only message is turned into text (scripts, styles
  and markup dropped), so nothing from the mail is ever stored or shown as HTML.
- A *reply* loses its quoted history ("On ... wrote:", ``>`` lines, Outlook header blocks,
  German, French, Spanish and Chinese variants) and its signature, because the thread already
  holds what it quotes. A *new* message keeps its whole text: a forwarded mail is its substance.
- Automatic mail (auto-replies, bounces, bulk) is recognised from its headers, so it never
  opens a ticket or answers one (mail loops).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses

from bs4 import BeautifulSoup

from kb.users import EMAIL_RE

KEY_MAX = 240
HEADER_PEEK = 64 * 1024
# Our subject tag: [HD-2026-000123:<email token>] (kb.tickets.Ticket.mail_tag).
TAG_RE = re.compile(r"\[(HD-\d{4}-(\d{6,})):([0-9a-f]{10})\]", re.I)
BARE_REFERENCE_RE = re.compile(r"\bHD-\d{4}-\d{6,}\b", re.I)
_MSGID_RE = re.compile(r"<([^<>\s]{1,998})>")
_PREFIX_RE = re.compile(r"^\s*(re|fw|fwd|aw|wg|sv|vs|antw|tr|回复|回覆|答复|转发|轉寄)\s*(\[\d+\])?\s*[:：]\s*", re.I)
_BULK = {"bulk", "junk", "list", "auto_reply"}
_BOUNCE_SENDERS = {"mailer-daemon", "postmaster"}


class Unreadable(Exception):
    """A message that cannot be taken in (no sender, not a message at all); the reason is
    shown to admins in the quarantine."""


@dataclass
class ParsedMail:
    message_key: str
    message_id: str
    from_addr: str
    from_name: str
    subject: str
    references: list[str]            # In-Reply-To first, then References newest first
    text: str                        # the whole body as text
    reply_text: str                  # the body without quoted history and signature
    attachments: list[tuple[str, bytes]] = field(default_factory=list)
    automatic: str | None = None     # why this is an auto-reply/bounce/bulk mail, else None


def safe(value, limit: int | None = None) -> str:
    """Header text fit for the database: no lone surrogates (8-bit junk), no control characters."""
    text = str(value or "").encode("utf-8", "replace").decode("utf-8")
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text[:limit] if limit else text


def message_key(message_id: str, raw: bytes) -> str:
    """The Message-ID when there is a usable one, otherwise a digest of the bytes."""
    if message_id and len(message_id) <= KEY_MAX:
        return message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _msgid(value) -> str:
    text = safe(value)
    found = _MSGID_RE.search(text)
    if found:
        return found.group(1)
    return text if text and " " not in text else ""


def header_summary(raw: bytes) -> tuple[str, str, str]:
    """``(message_key, from address, subject)`` from the headers alone, best effort and never
    raising: for a message too large to read or too broken to parse."""
    try:
        head = BytesHeaderParser(policy=policy.compat32).parsebytes(raw[:HEADER_PEEK])
        mid = _msgid(head.get("Message-ID", ""))
        addrs = getaddresses([safe(head.get("From", ""))])
        sender = safe(addrs[0][1], 254).lower() if addrs else ""
        return message_key(mid, raw), sender, safe(_decoded(head.get("Subject", "")), 300)
    except Exception:  # noqa: BLE001 - a summary of garbage is still a summary
        return message_key("", raw), "", ""


def _decoded(value) -> str:
    from email.header import decode_header, make_header
    try:
        return str(make_header(decode_header(str(value or ""))))
    except Exception:  # noqa: BLE001 - undecodable encoded-words: keep them as they are
        return str(value or "")


def clean_subject(subject: str) -> str:
    """The subject without our tag and without Re:/Fwd:/AW:/回复: prefixes."""
    text = TAG_RE.sub(" ", subject or "")
    while (stripped := _PREFIX_RE.sub("", text, count=1)) != text:
        text = stripped
    return " ".join(text.split())


def parse_message(raw: bytes, own_addresses=frozenset()) -> ParsedMail:
    """Everything :mod:`kb.mail_in` needs; raises :class:`Unreadable` for what cannot be used."""
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        mid = _msgid(msg.get("Message-ID", ""))
        from_header = safe(msg.get("From", ""))
    except Exception as exc:  # noqa: BLE001 - the parser gave up: that is the reason
        raise Unreadable(f"the message could not be parsed ({type(exc).__name__}: {exc})") from exc
    addrs = [(n, a) for n, a in getaddresses([from_header]) if a]
    if not addrs:
        raise Unreadable("it has no sender (From header missing or empty)")
    if len(addrs) > 1:
        raise Unreadable("it names more than one sender in From")
    name, addr = addrs[0]
    addr = addr.strip().lower()
    if addr not in own_addresses and (len(addr) > 254 or not EMAIL_RE.match(addr)):
        raise Unreadable(f"the sender address {safe(addr, 80)!r} is not valid")
    try:
        text, body_part, html_only = _body(msg)
        reply_text = strip_reply(_body_text(body_part, drop_quotes=True) if html_only else text)
        attachments = list(_attachments(msg, body_part))
        refs = _references(msg)
        automatic = automatic_reason(msg, addr, own_addresses)
    except Exception as exc:  # noqa: BLE001 - a body the library cannot walk
        raise Unreadable(f"the body could not be read ({type(exc).__name__}: {exc})") from exc
    return ParsedMail(message_key=message_key(mid, raw), message_id=mid, from_addr=addr,
                      from_name=safe(name, 120), subject=safe(msg.get("Subject", ""), 300), references=refs,
                      text=text, reply_text=reply_text, attachments=attachments, automatic=automatic)


def automatic_reason(msg: EmailMessage, sender: str, own_addresses=frozenset()) -> str | None:
    """Why this message was sent by a machine (RFC 3834 and the common conventions), or None."""
    auto = safe(msg.get("Auto-Submitted", "")).lower()
    if auto and auto != "no":
        return f"automatic message (Auto-Submitted: {auto[:40]})"
    precedence = safe(msg.get("Precedence", "")).lower()
    if precedence in _BULK:
        return f"bulk or list mail (Precedence: {precedence})"
    for header in ("X-Autoreply", "X-Autorespond", "X-Autogenerated", "X-AutoReply-From"):
        if msg.get(header) is not None:
            return f"auto-reply ({header} header)"
    if safe(msg.get("Return-Path", "")).replace(" ", "") == "<>":
        return "bounce (empty Return-Path)"
    if sender.split("@", 1)[0] in _BOUNCE_SENDERS:
        return f"bounce (sent by {sender.split('@', 1)[0]})"
    if msg.get_content_type() == "multipart/report" or any(
            p.get_content_type() in ("message/delivery-status", "message/disposition-notification")
            for p in msg.walk()):
        return "delivery or read report"
    if sender in own_addresses:
        return "sent by this helpdesk itself (mail loop)"
    return None


def _references(msg: EmailMessage) -> list[str]:
    refs = _MSGID_RE.findall(safe(msg.get("In-Reply-To", "")))
    refs += reversed(_MSGID_RE.findall(safe(msg.get("References", ""))))
    return list(dict.fromkeys(refs))[:50]


def _body(msg: EmailMessage) -> tuple[str, EmailMessage | None, bool]:
    """(text, the part it came from, whether that part is HTML)."""
    part = msg.get_body(preferencelist=("plain",)) or msg.get_body(preferencelist=("html",))
    if part is None:
        return "", None, False
    return _body_text(part), part, part.get_content_subtype() == "html"


def _decode(part) -> str:
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except (LookupError, UnicodeError, KeyError, ValueError, AssertionError):
        pass
    payload = part.get_payload(decode=True) or b""
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)


def _body_text(part, *, drop_quotes: bool = False) -> str:
    if part is None:
        return ""
    text = _decode(part)
    if part.get_content_subtype() == "html":
        text = html_to_text(text, drop_quotes=drop_quotes)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8").strip()


_BLOCKS = ["p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "blockquote", "hr",
           "ul", "ol", "section", "article", "header", "footer"]
_QUOTE_SELECTORS = ("blockquote, div.gmail_quote, div.gmail_attr, div.moz-cite-prefix, div#divRplyFwdMsg, "
                    "div#appendonsend ~ *, div#appendonsend, div.yahoo_quoted")


def html_to_text(html: str, *, drop_quotes: bool = False) -> str:
    """Readable text from an HTML body: no markup survives, so nothing can run in the portal."""
    soup = BeautifulSoup(html or "", "html.parser")
    for tag in soup(["script", "style", "head", "title", "template", "noscript", "object", "iframe"]):
        tag.decompose()
    if drop_quotes:
        for tag in soup.select(_QUOTE_SELECTORS):
            tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_BLOCKS):
        block.insert_before("\n")
        block.insert_after("\n")
    lines = [" ".join(line.split()) for line in soup.get_text().splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


_ATTRIBUTION = [
    re.compile(r"^\s*On\b.{0,400}\bwrote\s*:\s*$", re.I | re.S),
    re.compile(r"^\s*Am\b.{0,400}\bschrieb\b.{0,200}:\s*$", re.I | re.S),
    re.compile(r"^\s*Le\b.{0,400}\ba écrit\s*:\s*$", re.I | re.S),
    re.compile(r"^\s*El\b.{0,400}\bescribió\s*:\s*$", re.I | re.S),
    re.compile(r"^\s*在.{0,400}写道\s*[:：]\s*$", re.S),
    re.compile(r"^\s*-{2,}\s*(Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original|"
               r"原始邮件|原始郵件|Forwarded message|Weitergeleitete Nachricht)\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*_{10,}\s*$"),  # Outlook's line above the quoted header block
]
_HEADER_FROM = re.compile(r"^\s*\*?(From|Von|De|发件人|寄件者)\s*\*?\s*[:：]", re.I)
_HEADER_NEXT = re.compile(r"^\s*\*?(Sent|Date|Gesendet|Datum|Envoyé|Enviado|发送时间|日期|寄件日期|To|An|À|Para|收件人)"
                          r"\s*\*?\s*[:：]", re.I)
_SIGNATURE = re.compile(r"^(-- ?|—)$")
_MOBILE = re.compile(r"^\s*(Sent from my \S+|Sent from (Mail|Outlook|Yahoo Mail)\b|Get Outlook for \S+|"
                     r"Von meinem \S+ gesendet|Envoyé de mon \S+|发自我的\S+|从我的\S+发送)", re.I)


def strip_reply(text: str) -> str:
    """What the person wrote in a reply: everything above the quoted history or signature,
    without ``>`` lines."""
    lines = (text or "").replace("\r\n", "\n").split("\n")
    kept = []
    for i, line in enumerate(lines):
        if _cut_here(lines, i):
            break
        if not line.lstrip().startswith(">"):
            kept.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _cut_here(lines: list[str], i: int) -> bool:
    line = lines[i]
    if _SIGNATURE.match(line) or _MOBILE.match(line):
        return True
    joined = line if i + 1 >= len(lines) else f"{line} {lines[i + 1]}"
    if any(p.match(line) or (len(line) < 400 and p.match(joined)) for p in _ATTRIBUTION):
        return True
    return bool(_HEADER_FROM.match(line) and any(_HEADER_NEXT.match(n) for n in lines[i + 1:i + 5]))


def _leaves(part):
    """Leaf parts, not descending into attached messages (those are attachments themselves)."""
    if part.get_content_maintype() == "multipart":
        for sub in part.iter_parts():
            yield from _leaves(sub)
    else:
        yield part


def _attachments(msg: EmailMessage, body_part):
    """(filename, bytes) of the files: parts named or marked as attachments, and attached
    messages; inline images referenced by the HTML (signature logos) are skipped."""
    for n, part in enumerate(_leaves(msg), start=1):
        if part is body_part:
            continue
        disposition = (part.get_content_disposition() or "").lower()
        filename = safe(part.get_filename() or "", 255)
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else None
            payload = inner.as_bytes(policy=policy.SMTP) if inner is not None else part.get_payload(decode=True)
            title = safe(inner.get("Subject", ""), 80) if inner is not None else ""
            yield (filename or f"{title or f'message-{n}'}.eml"), payload or b""
            continue
        if disposition != "attachment" and not filename:
            continue  # an alternative body (the HTML twin of the text) or an unnamed inline part
        if disposition == "inline" and part.get("Content-ID") and part.get_content_maintype() == "image":
            continue
        payload = part.get_payload(decode=True) or b""
        yield (filename or f"attachment-{n}"), payload
