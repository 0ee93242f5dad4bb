"""The app factory, configuration layers and where data lands on disk."""

import json
import stat
import threading

from sqlalchemy import func, select

from tests.support.forms import AuthActions
from webapp import create_app
from webapp.database import prepare_database
from webapp.extensions import db
from webapp.models import User


def test_testing_flag_comes_from_overrides(make_app):
    assert not create_app({"DATA_DIR": str(make_app().config["DATA_DIR"])}).testing
    assert make_app().testing


def test_database_defaults_to_the_platformdirs_location(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    prepare_database(app := create_app({"TESTING": True}))
    expected_dir = tmp_path / "xdg" / "Doorstep"
    assert app.config["DATA_DIR"] == str(expected_dir)
    assert (expected_dir / "doorstep.db").is_file()
    assert stat.S_IMODE(expected_dir.stat().st_mode) == 0o700


def test_data_dir_env_overrides_platformdirs(tmp_path, monkeypatch):
    monkeypatch.setenv("DOORSTEP_DATA_DIR", str(tmp_path / "elsewhere"))
    prepare_database(create_app({"TESTING": True}))
    assert (tmp_path / "elsewhere" / "doorstep.db").is_file()
    assert not (tmp_path / "xdg-data" / "Doorstep").exists()


def test_secret_key_is_generated_private_and_reused(make_app, data_dir):
    first = make_app()
    key_file = data_dir / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first.config["SECRET_KEY"]) >= 64
    assert make_app().config["SECRET_KEY"] == first.config["SECRET_KEY"]


def test_each_data_dir_gets_its_own_secret_key(tmp_path):
    one = create_app({"DATA_DIR": str(tmp_path / "one")})
    two = create_app({"DATA_DIR": str(tmp_path / "two")})
    assert one.config["SECRET_KEY"] != two.config["SECRET_KEY"]


def test_config_layers_data_dir_file_then_env_then_overrides(make_app, data_dir, monkeypatch):
    data_dir.mkdir(parents=True)
    (data_dir / "config.json").write_text(
        json.dumps({"ARGON2_TIME_COST": 4, "REMEMBER_COOKIE_NAME": "from_file"})
    )
    monkeypatch.setenv("DOORSTEP_REMEMBER_COOKIE_NAME", "from_env")
    app = make_app(ARGON2_TIME_COST=2)
    assert app.config["REMEMBER_COOKIE_NAME"] == "from_env"
    assert app.config["ARGON2_TIME_COST"] == 2
    assert app.config["SESSION_COOKIE_NAME"] == "doorstep_session"


def test_users_and_sessions_survive_a_restart(make_app, auth):
    auth.register()
    # A second app on the same data dir: a relaunch of the desktop app.
    restarted = make_app()
    with restarted.app_context():
        assert User.by_email("mei@example.com").username == "Mei"


def test_session_cookie_survives_a_restart(make_app):
    first = make_app()
    client = first.test_client()
    auth = AuthActions(client)
    auth.register()
    auth.login()
    cookie = client.get_cookie("doorstep_session")

    second_client = make_app().test_client()
    second_client.set_cookie("doorstep_session", cookie.value)
    assert "Welcome back, Mei!" in second_client.get("/").get_data(as_text=True)


def test_resources_found_from_a_frozen_bundle(tmp_path, monkeypatch):
    from webapp import paths

    monkeypatch.setattr("sys._MEIPASS", str(tmp_path / "bundle"), raising=False)
    assert paths.resource_root() == tmp_path / "bundle"


def test_templates_and_static_resolve_from_the_checkout(app):
    from webapp.paths import resource_root

    assert app.template_folder == str(resource_root() / "templates")
    assert (resource_root() / "static" / "vendor" / "bootstrap" / "bootstrap.min.css").is_file()


def test_the_factory_leaves_the_database_to_the_first_request(data_dir):
    # `flask db ...` makes the app too, and must find the database as it was.
    app = create_app({"DATA_DIR": str(data_dir)})
    assert not (data_dir / "doorstep.db").exists()
    assert app.test_client().get("/login").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_threads_share_one_engine(app):
    # waitress serves pages in several threads; they must share one pool, not open their own.
    engines = []

    def first_use():
        with app.app_context():
            engines.append(db.engine)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(engines) == 4 and len({id(engine) for engine in engines}) == 1
