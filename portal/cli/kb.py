"""`flask kb import PATH`: move an existing knowledge base in (a thin wrapper over kb.importer)."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from kb.errors import ValidationError
from kb.importer import import_path
from kb.users import get_user_by_email
from portal.cli.progress import progress_bar
from portal.extensions import db

group = AppGroup("kb", help="Knowledge base: import articles.")


@group.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=str))
@click.option("--status", type=click.Choice(["draft", "published"]), default="published", show_default=True,
              help="Status of newly created articles (records already imported keep theirs).")
@click.option("--author", "author_email", metavar="EMAIL", default=None,
              help="Record this user as the author of the imported revisions.")
@click.option("--dry-run", is_flag=True, help="Validate and report, but write nothing.")
def import_command(path: str, status: str, author_email: str | None, dry_run: bool) -> None:
    """Import a JSONL file or a folder of Markdown/HTML files with front matter.

    Records are matched by source_id, so running it again updates changed
    articles and leaves the rest alone. Exits with status 1 if any record was rejected.
    """
    author = None
    if author_email:
        author = get_user_by_email(db.session, author_email)
        if author is None:
            raise click.ClickException(f"No user with the email {author_email}.")
    try:
        report = import_path(db.session, path, author=author, status=status, progress=progress_bar("Importing"))
    except ValidationError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    prefix = "Dry run, nothing written: would have " if dry_run else ""
    click.echo(f"{prefix}{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
               f"{len(report.errors)} rejected.")
    for where, message in report.errors:
        click.echo(f"  rejected {where}: {message}", err=True)
    if report.errors:
        click.get_current_context().exit(1)
