"""People and their roles, with password hashing and the user services."""
from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from kb.db import Base, UTCDateTime, utcnow
from kb.errors import ValidationError


class Role(StrEnum):
    REQUESTER = "requester"
    AGENT = "agent"
    LEAD = "lead"
    TRAINER = "trainer"
    ADMIN = "admin"


LOCALES = ("en", "zh")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
_ROLES_SQL = ", ".join(f"'{r.value}'" for r in Role)


class User(Base):
    __tablename__ = "user"
    __table_args__ = (CheckConstraint(f"role IN ({_ROLES_SQL})", name="role_valid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default=Role.REQUESTER.value)
    locale: Mapped[str | None] = mapped_column(String(10), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Registered by a channel (an email sender, a caller) rather than by signing up: has
    # no usable password until an admin or a password reset gives one.
    is_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)

    # The attributes Flask-Login expects, without importing Flask into the domain.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    def get_id(self) -> str:
        return str(self.id)

    def set_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise ValidationError(f"The password must have at least {MIN_PASSWORD} characters.", "password")
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


def _clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise ValidationError("Enter a valid email address.", "email")
    return email


def _check_role(role: str) -> str:
    try:
        return Role(role).value
    except ValueError:
        raise ValidationError(f"Unknown role {role!r}; choose one of {', '.join(r.value for r in Role)}.", "role") from None


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == (email or "").strip().lower()))


def create_user(session: Session, actor: User | None, *, email: str, name: str, password: str,
                role: str = Role.REQUESTER.value, locale: str | None = None) -> User:
    """Create a user. ``actor`` None means the command line (trusted)."""
    from kb.permissions import require, can_manage_users

    if actor is not None:
        require(can_manage_users(actor))
    email = _clean_email(email)
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationError("Enter a name of 1 to 120 characters.", "name")
    if get_user_by_email(session, email):
        raise ValidationError(f"A user with the email {email} already exists.", "email")
    if locale is not None and locale not in LOCALES:
        raise ValidationError(f"Unknown language {locale!r}.", "locale")
    user = User(email=email, name=name, role=_check_role(role), locale=locale)
    user.set_password(password)
    session.add(user)
    session.flush()
    return user


def update_user(session: Session, actor: User, user: User, *, role: str | None = None,
                active: bool | None = None, name: str | None = None) -> User:
    from kb.permissions import require, can_manage_users

    require(can_manage_users(actor))
    if role is not None:
        new_role = _check_role(role)
        if user.id == actor.id and new_role != Role.ADMIN.value:
            raise ValidationError("You cannot remove your own admin role.", "role")
        user.role = new_role
    if active is not None:
        if user.id == actor.id and not active:
            raise ValidationError("You cannot deactivate your own account.", "active")
        user.active = active
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationError("Enter a name.", "name")
        user.name = name
    session.flush()
    return user


def set_locale(session: Session, user: User, locale: str | None) -> None:
    if locale is not None and locale not in LOCALES:
        raise ValidationError(f"Unknown language {locale!r}.", "locale")
    user.locale = locale
    session.flush()


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user if the credentials are right and the account is active, else None.

    Always hashes once, so response time does not reveal whether the email exists.
    """
    user = get_user_by_email(session, email or "")
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not user.check_password(password or "") or not user.is_active:
        return None
    user.last_login_at = utcnow()
    session.flush()
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count(User.id))) or 0


_DUMMY_HASH = generate_password_hash("not-a-real-password")
