"""Language choice: the user's setting, then the session, then the browser's Accept-Language."""
from __future__ import annotations

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

LANGUAGES = {"en": "English", "zh": "简体中文"}
ROLE_NAMES = {"requester": _l("Requester"), "agent": _l("Agent"), "lead": _l("Team lead"),
              "trainer": _l("Trainer"), "admin": _l("Admin")}


def role_label(role: str) -> str:
    return str(ROLE_NAMES.get(role, role))


def select_locale() -> str:
    """Outside a request (the worker, the command line) the default; mail to one person is
    rendered inside ``force_locale(their locale)``, which Flask-Babel applies before this."""
    from portal.security import actor

    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    user = actor()
    if user is not None and user.locale in LANGUAGES:
        return user.locale
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(list(LANGUAGES), default=current_app.config["BABEL_DEFAULT_LOCALE"])


def current_lang() -> str:
    return "zh" if str(get_locale()).startswith("zh") else "en"


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_lang=current_lang, role_label=role_label)
