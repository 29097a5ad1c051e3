"""``flask insights report``: the periodic service review by hand (the worker builds and mails
the weekly one on its own; see portal/insight_review.py)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from kb import insight_review as reviews
from kb.errors import ValidationError
from portal.extensions import db
from portal.insight_review import action_text, build, csv_name, publish_review, render_document, review_csv
from portal.search_ext import holder

group = AppGroup("insights", help="Insights: the periodic service review.")


def _day(_ctx, _param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a day (YYYY-MM-DD).") from None


@group.command("report")
@click.option("--period", type=click.Choice(reviews.KINDS), default="week", show_default=True)
@click.option("--date", "today", callback=_day, metavar="YYYY-MM-DD",
              help="Review the last complete period before this day (default: today).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Where to write the HTML and CSV files.")
@click.option("--send/--no-send", default=True, show_default=True,
              help="Keep the review and mail it to the leads, or only write the files.")
def report(period: str, today: date | None, out: Path, send: bool) -> None:
    """Build the review of the last week or month: HTML and CSV files, and (by default) the mail to the leads."""
    since, until = reviews.period_bounds(period, today or date.today())
    kept = db.session.scalar(select(reviews.InsightReview).where(reviews.InsightReview.kind == period,
                                                                  reviews.InsightReview.since == since))
    if kept is not None:
        review, review_id = kept.review, kept.id
        click.echo(f"The {period} from {since} to {until} was reviewed already (review {kept.id}, "
                   f"sent to {kept.recipients}); writing the files of that review, nothing is sent again.")
    else:
        click.echo(f"Building the {period} review of {since} to {until} ...")
        try:
            if send:
                row = publish_review(period, since=since, embedder=holder().embedder())
                review, review_id = row.review, row.id
                click.echo(f"Kept as review {row.id} and mailed to {row.recipients} leads (see `flask mail outbox`).")
            else:
                review, review_id = build(period, since=since, embedder=holder().embedder()), None
        except ValidationError as exc:
            raise click.ClickException(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    html_path = out / f"review-{review.kind}-{review.since}.html"
    html_path.write_text(render_document(review, review_id), encoding="utf-8")
    csv_path = out / csv_name(review)
    csv_path.write_text(review_csv(review), encoding="utf-8")
    click.echo(f"Wrote {html_path} and {csv_path}.")
    for action in review.actions:
        click.echo(f"  - {action_text(action)}")
