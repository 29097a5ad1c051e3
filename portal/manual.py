"""The service manual page (/manual): the operating manual, generated from the live
configuration, for everyone who is logged in. Also the ``duration`` template filter the
SLA pages share ("4 hours", "36 hours (3 business days)")."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import login_required

from kb.db import utcnow
from kb.service_manual import service_manual
from portal.extensions import db
from portal.tickets.labels import IMPACT_NAMES, PRIORITY_LABELS, PRIORITY_MEANINGS, URGENCY_NAMES

bp = Blueprint("manual", __name__)

DAY_LABELS = {"mon": _l("Monday"), "tue": _l("Tuesday"), "wed": _l("Wednesday"), "thu": _l("Thursday"),
              "fri": _l("Friday"), "sat": _l("Saturday"), "sun": _l("Sunday")}


def duration(value: timedelta | None, business_day: timedelta | None = None) -> str:
    """A target or an elapsed time in words; whole business days are added when they help."""
    if value is None:
        return "–"
    minutes = int(value.total_seconds() // 60)
    if minutes < 60 or minutes % 60:
        hours, mins = divmod(minutes, 60)
        if not hours:
            return ngettext("%(num)d minute", "%(num)d minutes", mins)
        return ngettext("%(num)d hour", "%(num)d hours", hours) + " " + ngettext("%(num)d minute", "%(num)d minutes", mins)
    text = ngettext("%(num)d hour", "%(num)d hours", minutes // 60)
    if business_day and value >= business_day and (value / business_day) == int(value / business_day):
        days = int(value / business_day)
        text += " (" + ngettext("%(num)d business day", "%(num)d business days", days) + ")"
    return text


@bp.app_template_filter("duration")
def _duration_filter(value, business_day=None) -> str:
    return duration(value, business_day)


@bp.get("/manual")
@login_required
def page():
    manual = service_manual(db.session, today=utcnow().date())
    return render_template("manual.html", manual=manual, priority_names=PRIORITY_LABELS,
                           priority_meanings=PRIORITY_MEANINGS, impact_names=IMPACT_NAMES,
                           urgency_names=URGENCY_NAMES, day_labels=DAY_LABELS)
