"""Every Flask extension, created once here and bound to the app in the factory."""
import logging
from typing import TYPE_CHECKING

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic can create and drop them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose metadata carries the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# Every model subclasses Model, which is db.Model: Flask-SQLAlchemy builds it from Base, adding
# its bind-key and table-name mixins and the legacy `Model.query`. Type checkers cannot take a
# base class from an attribute (mypy: 'Name "db.Model" is not defined', python/mypy#8603), so
# they are shown Base's typed declarative API instead; at runtime the class is db.Model itself.
if TYPE_CHECKING:
    class Model(Base):
        __abstract__ = True
else:
    Model = db.Model
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


class _RateLimitStorageAlarm(logging.Handler):
    """Flask-Limiter reports a dead storage (Redis down) to a logger with only a NullHandler,
    so nobody saw it. Repeat it, loudly, on the app's logger (stderr, the gunicorn log).

    With RATELIMIT_IN_MEMORY_FALLBACK_ENABLED the limits go on being counted in each process
    meanwhile (per process, so looser with several workers), and Redis is tried again."""

    def emit(self, record):
        message = record.getMessage()
        if "unreachable" in message:
            logging.getLogger("kil_network").error(
                "RATE LIMIT STORAGE UNREACHABLE (is Redis down? RATELIMIT_STORAGE_URI): %s. Limits are "
                "now counted in this process only until it is back.", message)
        elif "recovered" in message:
            logging.getLogger("kil_network").warning("Rate limit storage recovered: %s", message)


logging.getLogger("flask-limiter").addHandler(_RateLimitStorageAlarm())
