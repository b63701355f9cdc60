"""Settings for the test suite: the real settings with a fixed secret key when none is given, no connection pool."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
# Tests open and drop their own databases; pooled connections held across tests would keep them busy. The pool is
# exercised by the server benchmarks (bench/service.py, bench/soak.py) and its settings by test_settings_env.
os.environ.setdefault("DB_POOL_MAX_SIZE", "0")

from config.settings import *  # noqa: E402,F401,F403
