"""Ticket attachments on the web: upload (a helper the ticket forms call, and a route of its
own) and download with headers that keep an uploaded file from acting in the portal's origin.

Rules live in :mod:`kb.attachments`; this module reads the limits and the folder from the
config, translates the per-file messages, and sets the response headers.
"""
from __future__ import annotations

from flask import current_app, flash, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import login_required

from kb.attachments import (ALLOWED_TYPES, INLINE_TYPES, TEXT, Rejection, human_size, may_attach, open_attachment,
                            save_attachments, visible_attachments)
from kb.errors import InvalidTransition, PermissionDenied, ValidationError
from kb.tickets import get_ticket
from portal.extensions import db
from portal.security import actor
from portal.tickets import bp

# Served with the attachment, whatever it is: no sniffing, no script, no plugins, no framing,
# not readable cross-origin, not kept in shared caches.
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "private, no-store",
}
# What the file input offers (a hint for the browser's picker; the server checks the content).
ACCEPT = ",".join(sorted(ALLOWED_TYPES | {".txt", ".log", ".csv", ".json", ".eml", ".docx", ".xlsx", ".pptx",
                                          ".zip", ".pdf", ".png", ".jpg", ".jpeg", ".gif", ".webp"}))

TYPE_REASONS = {
    "html": _l("web pages (HTML) can run scripts"),
    "svg": _l("SVG images can contain scripts"),
    "program": _l("programs cannot be attached"),
    "legacy_office": _l("old Office files (.doc, .xls, .ppt) can carry macros; save it as .docx, .xlsx, .pptx or PDF"),
    "archive": _l("only ZIP archives are accepted"),
    "utf16": _l("text files must be UTF-8; save it as UTF-8"),
    "damaged_zip": _l("the ZIP file is damaged"),
    "unknown": _l("its content is not a recognised type"),
}


def allowed_text() -> str:
    return _("PNG, JPEG, GIF or WebP images, PDF, UTF-8 text (.txt, .log, .csv, .json, .eml), "
             "Word, Excel or PowerPoint (.docx, .xlsx, .pptx) and ZIP")


def rejection_message(r: Rejection) -> str:
    """The translated sentence for one refused file (kb's str(r) is the English one)."""
    d, name = r.detail, r.filename
    if r.reason == "too_large":
        return _("“%(name)s” was not added: it is larger than %(size)s.", name=name, size=human_size(d["max_bytes"]))
    if r.reason == "too_many":
        return _("“%(name)s” was not added: at most %(count)d files can be added at once.", name=name,
                 count=d["max_count"])
    if r.reason == "ticket_full":
        return _("“%(name)s” was not added: a ticket can have at most %(count)d files.", name=name,
                 count=d["max_per_ticket"])
    if r.reason == "empty":
        return _("“%(name)s” was not added: the file is empty.", name=name)
    if r.reason == "type":
        return _("“%(name)s” is not an allowed file type (%(why)s); allowed: %(allowed)s.", name=name,
                 why=TYPE_REASONS.get(d.get("why"), TYPE_REASONS["unknown"]), allowed=allowed_text())
    return _("“%(name)s” could not be stored; please try again later.", name=name)


def limits() -> dict:
    cfg = current_app.config
    return {"max_bytes": cfg["ATTACHMENT_MAX_BYTES"], "max_count": cfg["ATTACHMENT_MAX_COUNT"],
            "max_per_ticket": cfg["ATTACHMENT_MAX_PER_TICKET"], "max_size": human_size(cfg["ATTACHMENT_MAX_BYTES"]),
            "accept": ACCEPT, "allowed": allowed_text()}


def _save(ticket, files, *, internal: bool, purpose: str, message) -> tuple[list, list[str]]:
    offered = [(f.filename, f.stream) for f in files if f is not None and f.filename]
    if not offered:
        return [], []
    cfg = current_app.config
    try:
        saved, rejected = save_attachments(
            db.session, actor(), ticket, offered, storage_dir=cfg["ATTACHMENTS_PATH"],
            max_bytes=cfg["ATTACHMENT_MAX_BYTES"], max_count=cfg["ATTACHMENT_MAX_COUNT"],
            max_per_ticket=cfg["ATTACHMENT_MAX_PER_TICKET"], message=message, internal=internal, purpose=purpose)
    except (PermissionDenied, InvalidTransition, ValidationError) as exc:
        return [], [_("The files were not added: %(reason)s", reason=str(exc))]
    return saved, [rejection_message(r) for r in rejected]


def upload_files(ticket, files, *, internal: bool = False, purpose: str = "attachment", message=None) -> list[str]:
    """Attach ``request.files.getlist("files")`` to ``ticket`` (flushes, the caller commits) and
    return one translated message per file that was not added. Never raises for the files
    (a refused batch is a message too), so the ticket or reply around them is always kept."""
    return _save(ticket, files, internal=internal, purpose=purpose, message=message)[1]


def _checked(name: str) -> bool:
    return (request.form.get(name) or "").lower() in {"1", "y", "yes", "on", "true"}


@bp.post("/<int:ticket_id>/attachments")
@login_required
def upload(ticket_id: int):
    ticket = get_ticket(db.session, actor(), ticket_id)
    files = request.files.getlist("files")
    saved, errors = _save(ticket, files, internal=_checked("internal"),
                          purpose=request.form.get("purpose") or "attachment", message=None)
    if not saved and not errors:
        errors = [_("Choose at least one file to attach.")]
    db.session.commit()
    if saved:
        flash(ngettext("%(num)d file added.", "%(num)d files added.", len(saved)), "success")
    for error in errors:
        flash(error, "error")
    return redirect(url_for("tickets.view", ticket_id=ticket.id, _anchor="attachments"))


@bp.get("/<int:ticket_id>/attachments/<int:attachment_id>")
@login_required
def download(ticket_id: int, attachment_id: int):
    row, path = open_attachment(db.session, actor(), attachment_id, current_app.config["ATTACHMENTS_PATH"],
                                ticket_id=ticket_id)
    inline = row.content_type in INLINE_TYPES
    response = send_file(path, mimetype=row.content_type, as_attachment=not inline, download_name=row.filename,
                         etag=row.sha256, conditional=True, max_age=None)
    response.headers.update(DOWNLOAD_HEADERS)
    if row.content_type == TEXT:
        response.headers["Content-Type"] = "text/plain; charset=utf-8"  # the only text kb accepts
    return response


@bp.app_context_processor
def attachment_helpers():
    """For the partials: the limits, who may attach, and what a viewer may list."""
    def attachments_for(ticket):
        return visible_attachments(db.session, actor(), ticket)

    def can_attach(ticket, internal: bool = False) -> bool:
        return may_attach(actor(), ticket, internal=internal)

    return {"attachment_limits": limits, "attachments_for": attachments_for, "can_attach": can_attach,
            "human_size": human_size}
