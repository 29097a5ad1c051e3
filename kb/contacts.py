"""Contacts: the people a channel brings in who have no portal account yet (an email
sender, a caller, a chat user). A contact is a requester account marked ``is_contact``
with a random password nobody knows, so the ticket has a requester like every other
and the person can later be given a login without losing their history.
"""
from __future__ import annotations

import secrets

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.errors import ValidationError
from kb.users import EMAIL_RE, Role, User, get_user_by_email

NAME_MAX, PHONE_MAX = 120, 40
SEARCH_LIMIT = 10


def _clean_email(email: str | None) -> str:
    email = (email or "").strip().lower()
    if not email or len(email) > 254 or not EMAIL_RE.match(email):
        raise ValidationError("Enter a valid email address.", "email")
    return email


def find_or_create_contact(session: Session, email: str, name: str | None = None,
                           phone: str | None = None) -> tuple[User, bool]:
    """The user with this address, or a new contact for it; ``(user, created)``.

    A system action (the email and chat intake, or an agent through
    :func:`create_contact`): no permission check here. An existing account is returned
    as it is: a channel never renames or re-phones someone who already exists."""
    email = _clean_email(email)
    user = get_user_by_email(session, email)
    if user is not None:
        return user, False
    name = " ".join((name or "").split())[:NAME_MAX] or email.split("@", 1)[0]
    user = User(email=email, name=name, role=Role.REQUESTER.value, is_contact=True,
                phone=(phone or "").strip()[:PHONE_MAX] or None)
    user.password_hash = "!" + secrets.token_hex(16)  # matches no password hash format: no login
    session.add(user)
    session.flush()
    return user, True


def create_contact(session: Session, actor, *, email: str, name: str, phone: str | None = None) -> User:
    """An agent registers a caller who has no account (phone channel)."""
    permissions.require(permissions.can_file_on_behalf(actor), "Only support agents can register contacts.")
    if not " ".join((name or "").split()):
        raise ValidationError("Enter the caller's name.", "name")
    if get_user_by_email(session, _clean_email(email)) is not None:
        raise ValidationError("Someone with this email address already exists: search for them instead.", "email")
    user, _ = find_or_create_contact(session, email, name, phone)
    return user


def search_people(session: Session, actor, query: str, limit: int = SEARCH_LIMIT) -> list[User]:
    """Active people whose name, email or phone contains ``query`` (for the call form's
    search-as-you-type); staff who file on someone's behalf only."""
    permissions.require(permissions.can_file_on_behalf(actor), "Only support agents can look people up.")
    query = " ".join((query or "").split())[:100]
    if len(query) < 2:
        return []
    like = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    conds = [func.lower(User.name).like(like, escape="\\"), func.lower(User.email).like(like, escape="\\"),
             User.phone.like(like, escape="\\")]
    return list(session.scalars(select(User).where(User.active.is_(True), or_(*conds))
                                .order_by(User.name, User.id).limit(min(max(limit, 1), 50))))
