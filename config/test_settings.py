"""Settings for the test suite: the real settings with a fixed secret key when none is given."""
import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")

from config.settings import *  # noqa: E402,F401,F403
