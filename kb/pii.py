"""Find and replace personal data in free text (drafts made from tickets, the pre-publish check).

Why regular expressions and a name list rather than a model: the check must run offline,
in milliseconds, and give the same answer every time a lead presses "Publish". The rules
lean towards privacy (a false alarm costs an editor a click; a leak cannot be undone) but
avoid the false alarms that would make the check useless: dates, versions, error codes,
ticket references and product names are not personal data.

What counts, and the placeholder that replaces it:

- ``name`` (``[name]``): a name of a user in the system (the caller passes the list). Full
  names match case-insensitively with any spacing; each single part of three or more
  letters (first name, surname) matches as a whole word, case-insensitively, except parts
  that are also ordinary words ("Mark", "Will", "Rose"...; ``COMMON_WORDS``), which match
  only when capitalised, and role words of account names ("Agent 3", "Service Desk";
  ``ROLE_WORDS``), which never match alone (nor does a name made only of them). Names in Chinese script match anywhere.
- ``email`` (``[email]``), ``ip-address`` (IPv4, with an optional /prefix, not preceded by
  "v" as in v1.2.3.4; IPv6 as ``ipaddress`` accepts it), ``mac-address`` (six pairs with one
  separator, or Cisco's ``0011.2233.4455``).
- ``phone`` (``[phone]``): international (``+`` or ``00``) or local formats ("(020) 7946 0958",
  "555-123-4567", "010-12345678", a Chinese mobile "13800138000"); 7 to 15 digits. Not
  phones: dates ("2026-03-14", "14.03.2026"), dotted numbers (versions, IPs) unless
  international or US "555.123.4567", anything glued to a letter, hyphen or dot
  ("HD-2026-000123", "KB5034441", "0x80070005", "-2147024891"), and bare digit runs other
  than a Chinese mobile or a 10-11 digit number starting with 0 (order numbers, codes).
- ``host`` (``[host]``): machine names, not vendors' or products' domains. A dotted name
  under an internal suffix (.local, .lan, .corp, .internal, ...) or under one of
  ``Rules.internal_domains``; a hyphenated token with a machine-type part (LAPTOP, DESKTOP,
  PC, SRV, PRN, VM, ...; ``MACHINE_WORDS``) and a last part of two or more characters with a
  digit ("LAPTOP-4F2K9", "PC-FIN-023", "srv-db-01", "fin-pc-023") or Windows' default
  "WIN-" plus eight or more random characters; and whatever follows "hostname:",
  "computer name", "device name". "Wi-Fi", "COVID-19", "Office-365", "USB-C", "x86-64",
  "DB-9" and "microsoft.com" are left alone.
- ``employee-id`` (``[employee-id]``): "E123456", "EMP-00123" by default; a deployment sets
  its own pattern with ``HELPDESK_EMPLOYEE_ID_PATTERN`` (a regular expression) or
  ``Rules(employee_id=...)``.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field

PLACEHOLDERS = {"name": "[name]", "email": "[email]", "phone": "[phone]", "ip-address": "[ip-address]",
                "mac-address": "[mac-address]", "host": "[host]", "employee-id": "[employee-id]"}
# Which wins when two findings overlap (lower first): an email contains a name, a host a name.
RANK = {"email": 0, "ip-address": 1, "mac-address": 1, "employee-id": 2, "host": 3, "phone": 4, "name": 5}

DEFAULT_EMPLOYEE_ID = r"\b(?:E\d{5,7}|EMP[-_]?\d{3,8})\b"
INTERNAL_SUFFIXES = ("local", "lan", "corp", "internal", "intranet", "intra", "localdomain", "home.arpa", "ad")
MACHINE_WORDS = ("laptop", "desktop", "notebook", "pc", "nb", "lt", "ntb", "ws", "wks", "srv", "svr", "server",
                 "host", "vm", "dc", "db", "fs", "prn", "prt", "printer", "mbp", "tab", "kiosk")
# Parts of account names that are never a person's name on their own ("Agent 3", "Service Desk").
ROLE_WORDS = frozenset("""agent lead admin administrator requester trainer user support team service desk help
    helpdesk system test demo guest contact manager office bot it hr finance""".split())
# Names that are also ordinary words: matched only when capitalised.
COMMON_WORDS = frozenset("""will mark may bill grant rose long page case new
    power rich king young white black green brown hill wood lane chase hope joy faith art max sky june april august
    summer win jack frank ray gene sun star field park ward bell cook baker hunter booth""".split())


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Rules:
    """What the deployment adds: its employee-id pattern and its internal DNS domains."""

    employee_id: str = DEFAULT_EMPLOYEE_ID
    internal_domains: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls, environ=None) -> "Rules":
        environ = os.environ if environ is None else environ
        pattern = environ.get("HELPDESK_EMPLOYEE_ID_PATTERN") or DEFAULT_EMPLOYEE_ID
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"HELPDESK_EMPLOYEE_ID_PATTERN is not a valid regular expression: {exc}") from None
        domains = tuple(d.strip().lower().strip(".") for d in environ.get("HELPDESK_INTERNAL_DOMAINS", "").split(",")
                        if d.strip())
        return cls(employee_id=pattern, internal_domains=domains)


# ------------------------------------------------------------------ patterns
EMAIL_RE = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4_RE = re.compile(rf"(?<![\w.])(?<![vV])({_OCTET}(?:\.{_OCTET}){{3}})(?:/\d{{1,2}})?(?![\w]|\.\d)")
IPV6_CANDIDATE = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?(?:/\d{1,3})?(?![\w:])")
MAC_RE = re.compile(r"(?<![\w:-])(?:[0-9A-Fa-f]{2}([:-]))(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![\w:-])"
                    r"|(?<![\w.])[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}(?!\w|\.\w)")
PHONE_CANDIDATE = re.compile(r"(?<![\w+./:\-])(?:\+|00)?\(?\d[\d \t().\-]{5,}\d(?:\s*(?:ext\.?|x)\s*\d{1,5})?"
                             r"(?!\w|[./:\-]\d)", re.I)
_DATE = re.compile(r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
FQDN_RE = re.compile(rf"(?<![\w.@-])(?:{_LABEL}\.)+{_LABEL}(?![\w-]|\.[A-Za-z0-9])")
TOKEN_RE = re.compile(r"(?<![\w.@-])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+(?![\w@]|[.-][A-Za-z0-9])")
HOST_LABELLED = re.compile(r"\b(?:host ?name|computer name|device name|machine name|pc name)\s*(?:is|:|=)?\s*"
                           r"([A-Za-z0-9][A-Za-z0-9-]{1,62})\b", re.I)
_WIN_DEFAULT = re.compile(r"^WIN-[A-Z0-9]{8,}$")


def _phone_ok(candidate: str) -> bool:
    text = candidate.strip()
    digits = re.sub(r"\D", "", re.split(r"(?i)\s*(?:ext\.?|x)\s*\d", text)[0])
    if not 7 <= len(digits) <= 15 or _DATE.match(text):
        return False
    if text.startswith("+") or (text.startswith("00") and "." not in text):
        return True
    if "." in text:
        return bool(re.fullmatch(r"\d{3}\.\d{3}\.\d{4}", text))
    groups = re.findall(r"\d+", text)
    if len(groups) == 1:  # a bare run: a Chinese mobile or a national number with its trunk 0
        return bool(re.fullmatch(r"1[3-9]\d{9}", text) or re.fullmatch(r"0\d{9,10}", text))
    if all(re.fullmatch(r"(19|20)\d\d", g) for g in groups):  # "2024 2025"
        return False
    return len(groups) <= 5 and all(len(g) >= 2 for g in groups)


def _phones(text: str):
    for m in PHONE_CANDIDATE.finditer(text):
        start, chunk = m.start(), m.group()
        # A date or code in front can make the run too long: drop leading groups until it fits.
        while chunk:
            stripped = chunk.rstrip(" \t")
            if _phone_ok(stripped):
                yield Finding("phone", start, start + len(stripped), stripped)
                break
            cut = re.search(r"[ \t]+(?=[\d(+])", chunk)
            if not cut:
                break
            start, chunk = start + cut.end(), chunk[cut.end():]


def _is_machine_token(token: str) -> bool:
    if _WIN_DEFAULT.match(token):
        return True
    parts = token.lower().split("-")
    last = parts[-1]
    return (any(p in MACHINE_WORDS for p in parts[:-1]) and len(last) >= 2 and any(c.isdigit() for c in last))


def _hosts(text: str, rules: Rules):
    internal = tuple(rules.internal_domains)
    for m in FQDN_RE.finditer(text):
        name = m.group().lower()
        labels = name.split(".")
        if labels[-1].isdigit():
            continue  # an IP address or a version number
        if (any(name.endswith("." + s) for s in INTERNAL_SUFFIXES)
                or any(name.endswith("." + d) for d in internal)
                or _is_machine_token(m.group().split(".")[0])):
            yield Finding("host", m.start(), m.end(), m.group())
    for m in TOKEN_RE.finditer(text):
        if _is_machine_token(m.group()):
            yield Finding("host", m.start(), m.end(), m.group())
    for m in HOST_LABELLED.finditer(text):
        if any(c.isdigit() for c in m.group(1)):
            yield Finding("host", m.start(1), m.end(1), m.group(1))


def _ipv6(text: str):
    for m in IPV6_CANDIDATE.finditer(text):
        address = m.group().split("/")[0].split("%")[0]
        if address.count(":") < 2 or (address.count(":") < 7 and "::" not in address):
            continue
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            continue
        yield Finding("ip-address", m.start(), m.end(), m.group())


def _regex(kind: str, pattern, text: str):
    for m in pattern.finditer(text):
        yield Finding(kind, m.start(), m.end(), m.group())


# --------------------------------------------------------------------- names
_CJK = re.compile(r"[\u3400-\u9fff]")


def name_pattern(names) -> re.Pattern | None:
    """One alternation for every name and name part (longest first, so a full name wins)."""
    phrases, parts_any, parts_cap = set(), set(), set()
    for raw in names or ():
        name = " ".join(str(raw or "").split())
        if not name:
            continue
        if _CJK.search(name):
            if len(name.replace(" ", "")) >= 2:
                phrases.add(name)
            continue
        if len(name) >= 3 and not all(w.lower() in ROLE_WORDS for w in name.split()):  # "Service Desk"
            phrases.add(name)
        for part in re.split(r"[\s,]+", name):
            part = part.strip(".'()")
            if len(part) >= 3 and part.isalpha() and part.lower() not in ROLE_WORDS:
                (parts_cap if part.lower() in COMMON_WORDS else parts_any).add(part)
    if not (phrases or parts_any or parts_cap):
        return None

    def words(items, flags=""):
        alts = "|".join(r"\s+".join(re.escape(w) for w in p.split()) for p in sorted(items, key=len, reverse=True))
        return f"(?{flags}:{alts})" if alts else None

    cjk = [p for p in phrases if _CJK.search(p)]
    latin = [p for p in phrases if not _CJK.search(p)]
    branches = []
    if latin or parts_any:
        branches.append(rf"(?<![\w@.])(?:{words(set(latin) | parts_any, 'i')})(?![\w@]|\.\w)")
    if parts_cap:  # ordinary words: only written as a name (capitalised)
        caps = {p[:1].upper() + p[1:].lower() for p in parts_cap} | {p.upper() for p in parts_cap}
        branches.append(rf"(?<![\w@.])(?:{words(caps)})(?![\w@]|\.\w)")
    if cjk:
        branches.append(words(cjk))
    return re.compile("|".join(branches))


def _names(text: str, pattern: re.Pattern | None):
    if pattern is not None:
        yield from _regex("name", pattern, text)


# ---------------------------------------------------------------------- API
def find(text: str, names=(), *, extra=(), rules: Rules | None = None,
         pattern: re.Pattern | None = None) -> list[Finding]:
    """Every piece of personal data in ``text``, in order, without overlaps.

    ``names``: the names of users in the system (``pattern`` is a precompiled
    :func:`name_pattern`, for callers that check many texts). ``extra``: ``(kind, literal)``
    pairs that must be found whatever their format (a ticket's contact email and phone)."""
    text = text or ""
    rules = rules or Rules.from_env()
    found: list[Finding] = []
    found += _regex("email", EMAIL_RE, text)
    found += _regex("ip-address", IPV4_RE, text)
    found += _ipv6(text)
    found += _regex("mac-address", MAC_RE, text)
    found += _regex("employee-id", re.compile(rules.employee_id), text)
    found += _hosts(text, rules)
    found += _phones(text)
    found += _names(text, pattern if pattern is not None else name_pattern(names))
    for kind, literal in extra:
        literal = (literal or "").strip()
        if len(literal) >= 5:
            found += (Finding(kind, m.start(), m.end(), m.group())
                      for m in re.finditer(re.escape(literal), text, re.I))
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (RANK.get(f.kind, 9), f.start - f.end, f.start)):
        if f.end > f.start and all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def scrub(text: str, names=(), **kwargs) -> tuple[str, list[Finding]]:
    """``text`` with every finding replaced by its neutral placeholder, and the findings."""
    findings = find(text, names, **kwargs)
    out, pos = [], 0
    for f in findings:
        out.append(text[pos:f.start])
        out.append(PLACEHOLDERS.get(f.kind, "[redacted]"))
        pos = f.end
    out.append((text or "")[pos:])
    return "".join(out), findings


def excerpt(text: str, finding: Finding, width: int = 30) -> tuple[str, str, str]:
    """(before, match, after) around a finding, on one line, for showing where it is."""
    before = text[max(0, finding.start - width):finding.start]
    after = text[finding.end:finding.end + width]
    one_line = lambda s: re.sub(r"\s+", " ", s)  # noqa: E731
    return (("…" if finding.start > width else "") + one_line(before), finding.text,
            one_line(after) + ("…" if finding.end + width < len(text) else ""))
