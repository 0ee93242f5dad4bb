"""Start-up baseline: a same-stack peer, a small accounts app written the obvious way.

Doorstep should start well ahead of an app built on the same stack the way a typical tutorial
builds it. This is that app, the yardstick scripts/bench_startup.py measures Doorstep against
(as "peer", beside the one-route "bare" window): Flask with Flask-SQLAlchemy (a typed
SQLAlchemy 2 model), Flask-Login and Flask-WTF's CSRF protection, everything imported at the
top, the tables created at start in a SQLite file, a landing page with a navbar on Bootstrap's
CSS (the repo's own copy, served locally), waitress in a daemon thread and a pywebview window
(Qt on Linux). Nothing in it is meant to be slow or fast: it is what one would write first.

    python scripts/peer_baseline.py [--data-dir DIR]
"""

import argparse
import secrets
import sys
import tempfile
import threading
from pathlib import Path

import webview
from flask import Flask, flash, redirect, render_template_string, url_for
from flask_login import (
    LoginManager,
    UserMixin,
    login_required,
    login_user,
    logout_user,
)
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect, FlaskForm
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from waitress import create_server
from werkzeug.security import check_password_hash
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired

STATIC = Path(__file__).resolve().parent.parent / "static"


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
login_manager.login_view = "login"
csrf = CSRFProtect()


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


class LoginForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])
    submit = SubmitField("Log in")


PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Peer</title>
  <link rel="stylesheet" href="{{ url_for('static', filename='vendor/bootstrap/bootstrap.min.css') }}">
</head>
<body>
  <nav class="navbar navbar-expand navbar-dark bg-dark mb-4">
    <div class="container">
      <a class="navbar-brand" href="{{ url_for('index') }}">Peer</a>
      <div class="navbar-nav ms-auto">
        {% if current_user.is_authenticated %}
          <a class="nav-link" href="{{ url_for('logout') }}">Log out</a>
        {% else %}
          <a class="nav-link" href="{{ url_for('login') }}">Log in</a>
        {% endif %}
      </div>
    </div>
  </nav>
  <main class="container">
    {% for message in get_flashed_messages() %}
      <div class="alert alert-info">{{ message }}</div>
    {% endfor %}
    {% if form %}
      <h1>Log in</h1>
      <form method="post" novalidate>
        {{ form.hidden_tag() }}
        <div class="mb-3">{{ form.email.label(class="form-label") }} {{ form.email(class="form-control") }}</div>
        <div class="mb-3">{{ form.password.label(class="form-label") }} {{ form.password(class="form-control") }}</div>
        {{ form.submit(class="btn btn-primary") }}
      </form>
    {% elif current_user.is_authenticated %}
      <h1>Welcome back, {{ current_user.username }}!</h1>
    {% else %}
      <h1>Welcome</h1>
      <p><a href="{{ url_for('login') }}">Log in</a> to continue.</p>
    {% endif %}
  </main>
</body>
</html>
"""


def create_app(data_dir: Path) -> Flask:
    app = Flask(__name__, static_folder=str(STATIC))
    app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{data_dir / 'peer.sqlite3'}"
    db.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)

    @app.get("/")
    def index() -> str:
        return render_template_string(PAGE, form=None)

    @app.route("/login", methods=["GET", "POST"])
    def login():
        form = LoginForm()
        if form.validate_on_submit():
            user = db.session.scalar(db.select(User).filter_by(email=form.email.data))
            if user and check_password_hash(user.password_hash, form.password.data):
                login_user(user)
                return redirect(url_for("index"))
            flash("Invalid email or password.")
        return render_template_string(PAGE, form=form)

    @app.get("/logout")
    @login_required
    def logout():
        logout_user()
        return redirect(url_for("index"))

    with app.app_context():
        db.create_all()
    return app


def run(data_dir: Path) -> None:
    """Serve the app on a free port and show it in a window until it is closed."""
    data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(data_dir)
    server = create_server(app, host="127.0.0.1", port=0)
    threading.Thread(target=server.run, daemon=True).start()
    webview.create_window("Peer", f"http://127.0.0.1:{server.effective_port}/")
    webview.start(gui="qt" if sys.platform.startswith("linux") else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="where the database lives (default: temp)")
    args = parser.parse_args()
    if args.data_dir:
        run(args.data_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="peer-") as tmp:
            run(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
