"""`flask setup` (first-run set-up used by `make run`) and `flask demo load`."""
from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from kb import indexing
from kb.articles_models import Article
from kb.demo import DEMO_PASSWORD, DEMO_USERS, load_demo
from kb.sla.models import seed_sla_defaults
from kb.taxonomy import seed_taxonomy
from kb.users import count_users
from portal.cli.progress import progress_bar
from portal.extensions import db
from portal.search_ext import engine, holder
from search import IndexMismatchError

demo_group = AppGroup("demo", help="Demo data.")


def _load_demo() -> None:
    report = load_demo(db.session, progress=progress_bar("Importing demo articles"), embedder=holder().embedder())
    db.session.commit()
    click.echo(f"Demo data: {report.created} articles created, {report.updated} updated, "
               f"{len(report.errors)} rejected.")
    for where, message in report.errors:
        click.echo(f"  {where}: {message}", err=True)


@demo_group.command("load")
def demo_load() -> None:
    """Load the demo users and articles (safe to run twice)."""
    _load_demo()


def print_logins() -> None:
    click.echo("Demo logins (password for all: %s):" % DEMO_PASSWORD)
    for email, name, role, _locale in DEMO_USERS:
        click.echo(f"  {role:10} {email:28} {name}")


@click.command("setup")
@click.option("--no-demo", is_flag=True, help="Do not load demo data into an empty database.")
@with_appcontext
def setup_command(no_demo: bool) -> None:
    """Apply migrations; on an empty database load the demo data; build the index if it is missing."""
    from flask_migrate import upgrade

    upgrade()
    seed_taxonomy(db.session)
    seed_sla_defaults(db.session)  # every run: adds what is missing, keeps an admin's changes
    db.session.commit()
    if count_users(db.session) == 0 and not no_demo:
        _load_demo()
    articles = db.session.scalar(select(func.count(Article.id))) or 0
    try:
        eng = engine()
        rebuild = bool(articles) and eng.count() == 0
    except IndexMismatchError as exc:
        click.echo(f"{exc} Rebuilding it now.", err=True)
        rebuild = True
    if rebuild:
        eng = holder().engine_for_rebuild()
        n = indexing.reindex(db.session, eng, progress=progress_bar("Building the search index"), commit=db.session.commit)
        click.echo(f"Search index built: {n} articles.")
    else:
        while indexing.process_jobs(db.session, eng):
            db.session.commit()
        db.session.commit()
    if not no_demo:
        print_logins()
