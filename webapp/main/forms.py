"""Forms of the main blueprint."""

from __future__ import annotations

from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, InputRequired

from desktop.languages import LOCALES
from webapp.auth.forms import Form


class LanguageForm(Form):
    """The navbar's language switch: the button pressed names the locale."""

    locale = StringField(validators=[InputRequired(), AnyOf(LOCALES)])
    # The page the switch was pressed on, to go back to (checked by safe_next_url).
    next = HiddenField()
