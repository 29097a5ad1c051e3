"""Reading API input strictly (a typo in a field name is an error, not silently ignored),
and the small helpers every endpoint shares."""
from __future__ import annotations

import json
import logging

from flask import current_app, request
from flask_babel import gettext as _

from portal.api.errors import ApiError

log = logging.getLogger(__name__)
DEFAULT_PER_PAGE, MAX_PER_PAGE = 20, 100


def json_body(allowed: tuple[str, ...]) -> dict:
    """The request's JSON object; 415 for another content type, 400 for broken JSON,
    a validation error naming the first unknown field."""
    if not request.is_json:
        raise ApiError(415)
    try:
        data = json.loads(request.get_data(cache=True) or b"")
    except ValueError as exc:  # includes UnicodeDecodeError
        raise ApiError(400, _("The body is not valid JSON: %(error)s.", error=str(exc))) from None
    if not isinstance(data, dict):
        raise ApiError(400, _("The body must be a JSON object."))
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ApiError(400, _("Unknown field “%(name)s”; this endpoint accepts: %(fields)s.", name=unknown[0],
                              fields=", ".join(allowed)), code="validation_error", field=unknown[0])
    return data


def string_field(data: dict, name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise ApiError(400, _("“%(name)s” is required.", name=name), code="validation_error", field=name)
        return None
    if not isinstance(value, str):
        raise ApiError(400, _("“%(name)s” must be a string.", name=name), code="validation_error", field=name)
    return value


def bool_field(data: dict, name: str, default: bool = False) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise ApiError(400, _("“%(name)s” must be true or false.", name=name), code="validation_error", field=name)
    return value


def int_arg(name: str, default: int, lowest: int, highest: int | None = None) -> int:
    """A whole-number query parameter within bounds, or a validation error that says the bounds."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < lowest or (highest is not None and int(raw) > highest):
        if highest is None:
            message = _("“%(name)s” must be a whole number of at least %(low)s.", name=name, low=lowest)
        else:
            message = _("“%(name)s” must be a whole number from %(low)s to %(high)s.", name=name, low=lowest,
                        high=highest)
        raise ApiError(400, message, code="validation_error", field=name)
    return int(raw)


def page_args() -> tuple[int, int]:
    return int_arg("page", 1, 1), int_arg("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)


def page_json(items: list, page: int, per_page: int, total: int) -> dict:
    return {"items": items, "page": page, "per_page": per_page, "total": total,
            "pages": max(1, -(-total // per_page))}


def public_url(path: str) -> str:
    """An absolute link for integrations, from BASE_URL (the address people use)."""
    return current_app.config.get("BASE_URL", "").rstrip("/") + path


def iso(value) -> str | None:
    return value.isoformat() if value else None


def embedder():
    """The app's embedder for triage and similar tickets; a ticket is never refused because
    the model is unavailable (then it is simply filed without the suggestion)."""
    from portal.search_ext import holder
    try:
        return holder().embedder()
    except Exception:  # noqa: BLE001
        log.warning("API ticket triage: embedder unavailable", exc_info=True)
        return None
