"""`flask kb ...` (the articles slice adds `kb import`)."""
import click
from flask.cli import AppGroup

group = AppGroup("kb", help="Knowledge base: import articles.")
