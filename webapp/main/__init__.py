"""The landing page."""

from flask import Blueprint

from webapp.main.urls import fixed_url

bp = Blueprint("main", __name__)
bp.add_app_template_global(fixed_url)  # for the layout, on every page

from webapp.main import views  # noqa: E402,F401  (registers the routes)
