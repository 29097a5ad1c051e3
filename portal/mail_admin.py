"""Admin pages for incoming mail: what the intake did with each message, and the quarantine."""
from flask import Blueprint

bp = Blueprint("mail_admin", __name__, url_prefix="/admin/mail")
