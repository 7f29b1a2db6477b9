"""A pytest plugin (loaded with -p, before pytest-django reads settings) giving test processes their environment."""

import os

# Test processes run with DEBUG off (as production does) and these harmless test-only values.
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ.setdefault("DEMO_TOKEN_DELAY_SECONDS", "0")
