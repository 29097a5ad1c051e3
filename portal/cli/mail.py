"""``flask mail``: the outbox (send now, list, retry failed)."""
from flask.cli import AppGroup

group = AppGroup("mail", help="Outgoing mail: send the outbox, list it, retry failures.")
