"""Flask extensions, created unbound here and bound to an app in `create_app`."""

from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from webapp.database import Database

db = Database()
login_manager = LoginManager()
csrf = CSRFProtect()
