"""Command-line interface: thin wrappers over the same kb services, grouped by domain."""
from flask import Flask


def register_cli(app: Flask) -> None:
    from portal.cli import insights, intake, kb, mail, search, setup, tickets, triage, users, worker

    app.cli.add_command(users.group)
    app.cli.add_command(search.group)
    app.cli.add_command(kb.group)
    app.cli.add_command(intake.group)
    app.cli.add_command(triage.group)
    app.cli.add_command(tickets.group)
    app.cli.add_command(mail.group)
    app.cli.add_command(insights.group)
    app.cli.add_command(worker.group)
    app.cli.add_command(setup.setup_command)
    app.cli.add_command(setup.demo_group)
