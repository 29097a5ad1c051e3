"""The article forms (Flask-WTF: CSRF on every POST)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Length, Optional

from kb.articles import BODY_MAX_BYTES, NOTE_MAX, TITLE_MAX, TITLE_MIN
from kb.articles_models import STATUSES
from kb.taxonomy import Category

AUDIENCE_LABELS = {"public": _l("Everyone (public)"), "internal": _l("Staff only (internal)")}
LANG_LABELS = {"en": "English", "zh": "简体中文"}


class ArticleForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(min=TITLE_MIN, max=TITLE_MAX)])
    body = TextAreaField(_l("Body"), validators=[DataRequired(), Length(max=BODY_MAX_BYTES)],
                         description=_l("Markdown: # headings, **bold**, lists, `code`, [links](https://…)."))
    category = SelectField(_l("Category"), validators=[DataRequired()])
    subcategory = SelectField(_l("Subcategory"), validators=[Optional()], validate_choice=False)
    tags = StringField(_l("Tags"), validators=[Optional(), Length(max=1500)],
                       description=_l("Comma-separated, for example: vpn, remote work"))
    audience = SelectField(_l("Audience"), choices=[SelectChoice(k, v) for k, v in AUDIENCE_LABELS.items()],
                           default="public")
    lang = SelectField(_l("Language"), choices=[SelectChoice(k, v) for k, v in LANG_LABELS.items()], default="en")
    note = StringField(_l("Change note"), validators=[Optional(), Length(max=NOTE_MAX)],
                       description=_l("What changed and why (shown in the history)."))
    base_revision = HiddenField()

    def set_choices(self, top: list[Category], locale: str) -> None:
        """Categories, and subcategories grouped under their category (no script needed)."""
        self.category.choices = [SelectChoice(c.slug, c.label(locale)) for c in top]
        self.subcategory.choices = [SelectChoice("", _l("(none)"))] + [
            SelectChoice(s.slug, s.label(locale), optgroup=c.label(locale)) for c in top for s in c.children]


class TransitionForm(FlaskForm):
    to_status = HiddenField(validators=[DataRequired(), AnyOf(STATUSES)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=NOTE_MAX)])


class VoteForm(FlaskForm):
    helpful = HiddenField(validators=[DataRequired(), AnyOf(["yes", "no"])])
