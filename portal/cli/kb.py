"""`flask kb import PATH`: move an existing knowledge base in (a thin wrapper over kb.importer);
`flask kb draft-from-tickets --since 30d`: drafts for recurring problems (kb.draft_batch)."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from sqlalchemy import select

from kb import draft_batch, permissions
from kb.errors import KBError, ValidationError
from kb.importer import import_path
from kb.users import User, get_user_by_email
from portal.cli.progress import progress_bar
from portal.extensions import db

group = AppGroup("kb", help="Knowledge base: import articles, draft articles from ticket history.")


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


def _drafting_actor(email: str | None) -> User:
    """The user the drafts are written as: ``--as``, else the first active team lead or admin."""
    if email:
        user = get_user_by_email(db.session, email)
        if user is None:
            raise click.ClickException(f"No user with the email {email}.")
    else:
        user = db.session.scalar(select(User).where(User.role.in_(("lead", "admin")), User.active.is_(True))
                                 .order_by(User.role.desc(), User.id).limit(1))
        if user is None:
            raise click.ClickException("No active team lead or admin to write the drafts as: pass --as EMAIL.")
    if not permissions.can_draft_from_history(user):
        raise click.ClickException(f"{user.email} may not write articles (it needs an agent, lead or admin).")
    return user


@group.command("draft-from-tickets")
@click.option("--since", default="30d", show_default=True, help="How far back to look at closed tickets (30d, 2w).")
@click.option("--min-tickets", type=click.IntRange(2, 1000), default=2, show_default=True,
              help="Smallest number of tickets that makes a recurring problem.")
@click.option("--as", "as_email", metavar="EMAIL", default=None,
              help="Write the drafts as this user (default: the first active team lead or admin).")
@click.option("--dry-run", is_flag=True, help="List the recurring problems, but write nothing.")
def draft_from_tickets_command(since: str, min_tickets: int, as_email: str | None, dry_run: bool) -> None:
    """Cluster recently closed tickets that no article covers and propose one draft per recurring
    problem (or an update to the article that already covers it), most people affected first.

    Tickets that became a draft or a suggested update are covered afterwards, so running it
    again proposes only what is new."""
    from portal.search_ext import engine, holder

    who = _drafting_actor(as_email)
    try:
        window = draft_batch.parse_since(since)
        result = draft_batch.recurring_problems(db.session, who, embedder=holder().embedder(), since=window,
                                                engine=engine(), min_tickets=min_tickets)
    except KBError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(f"{result.candidates} closed tickets since {since} have no article; "
               f"{len(result.clusters)} recurring problems (at least {min_tickets} tickets each)."
               + (f" Only the {draft_batch.MAX_TICKETS} most recent were clustered." if result.truncated else ""))
    if not result.clusters or dry_run:
        for rank, cluster in enumerate(result.clusters, 1):
            _echo_cluster(rank, cluster, "")
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()  # keep the ticket vectors computed on the way
        return
    bar = progress_bar("Drafting")
    for rank, cluster in enumerate(result.clusters, 1):
        kind, made = draft_batch.propose(db.session, who, cluster.tickets, engine=engine(),
                                         embedder=holder().embedder())
        db.session.commit()
        outcome = (f"suggested update #{made.id} to article {made.article_id}" if kind == "update"
                   else f"draft article {made.id} “{made.title}”")
        bar(rank, len(result.clusters))
        _echo_cluster(rank, cluster, outcome)


def _echo_cluster(rank: int, cluster, outcome: str) -> None:
    refs = ", ".join(t.reference for t in cluster.tickets)
    cover = (f" (covered by article {cluster.cover.article.id} “{cluster.cover.article.title}”, "
             f"similarity {cluster.cover.similarity:.2f})" if cluster.cover else "")
    click.echo(f"{rank}. {cluster.draft_title}: {cluster.people} people, {len(cluster.tickets)} tickets{cover}")
    click.echo(f"   tickets: {refs}")
    if outcome:
        click.echo(f"   -> {outcome}")
