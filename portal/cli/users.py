"""`flask users create|list|set-role`."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from kb.errors import ValidationError
from kb.users import Role, User, create_user, get_user_by_email
from portal.extensions import db

group = AppGroup("users", help="Create and manage user accounts.")


@group.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.REQUESTER.value, show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create(email: str, name: str, role: str, password: str) -> None:
    """Create a user (the password is asked for unless given)."""
    try:
        user = create_user(db.session, None, email=email, name=name, password=password, role=role)
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Created {user.email} ({user.role}).")


@group.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice([r.value for r in Role]))
def set_role(email: str, role: str) -> None:
    user = get_user_by_email(db.session, email)
    if user is None:
        raise click.ClickException(f"No user with the email {email}.")
    user.role = role
    db.session.commit()
    click.echo(f"{user.email} is now {role}.")


@group.command("list")
def list_users() -> None:
    for user in db.session.scalars(select(User).order_by(User.email)):
        click.echo(f"{user.email:40} {user.role:10} {'active' if user.active else 'inactive'}  {user.name}")
