"""Which ticket an incoming email answers, and whom its sender speaks for there.

Threading is by secret, not by address. A message belongs to ticket T only if it carries
T's ``email_token``: in the subject tag ``[HD-2026-000123:<token>]`` (``Ticket.mail_tag``)
or in one of our Message-IDs it answers (``hd.<id>.<token>.<rand>@...``,
:data:`kb.mail_out.MESSAGE_ID_RE`, found in In-Reply-To/References). From is trivially
forged; the token is only in mail we sent to the ticket's people. Even then the sender
must be on the ticket (:func:`participant`), so a leaked or forwarded token lets no
stranger post.
"""
from __future__ import annotations

import hmac

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.mail_out import MESSAGE_ID_RE
from kb.mail_parse import BARE_REFERENCE_RE, TAG_RE, ParsedMail
from kb.ticket_records import TicketCollaborator
from kb.tickets import Ticket
from kb.users import User, get_user_by_email


def find_thread(session: Session, mail: ParsedMail) -> tuple[Ticket | None, str]:
    """The ticket whose token this message carries, or None and a note when it names a
    ticket without a valid token."""
    candidates = [(int(m.group(2)), m.group(3).lower(), m.group(1).upper()) for m in TAG_RE.finditer(mail.subject)]
    for ref in mail.references:
        m = MESSAGE_ID_RE.match(ref)
        if m:
            candidates.append((int(m.group(1)), m.group(2).lower(), None))
    for ticket_id, token, reference in candidates:
        ticket = session.get(Ticket, ticket_id) if ticket_id > 0 else None
        if ticket is None or not ticket.email_token:
            continue
        if hmac.compare_digest(token.encode(), ticket.email_token.lower().encode()) and (
                reference is None or reference == ticket.reference):
            return ticket, ""
    if candidates or BARE_REFERENCE_RE.search(mail.subject or ""):
        return None, "it names a ticket without that ticket's token, so it was filed as a new ticket"
    return None, ""


def participant(session: Session, ticket: Ticket, address: str) -> User | None:
    """Who ``address`` speaks for on this ticket, or None for a stranger."""
    if ticket.contact_email and ticket.contact_email.lower() == address:
        return ticket.requester  # the address the requester asked to be reached at
    user = get_user_by_email(session, address)
    if user is None:
        return None
    if user.id in {ticket.requester_id, ticket.assignee_id} | ticket.follower_ids:
        return user
    collaborator = session.scalar(select(TicketCollaborator.id).where(
        TicketCollaborator.ticket_id == ticket.id, TicketCollaborator.user_id == user.id))
    return user if collaborator is not None else None
