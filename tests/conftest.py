import pytest
from django.test import override_settings


@pytest.fixture(scope="session", autouse=True)
def fast_password_hasher():
    """PBKDF2 costs ~0.3 s per user a test creates, and no test needs a strong hash. Test settings only:
    the e2e suite's server verifies passwords with the site's own hashers, so it keeps them."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="alice-password")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="mallory", password="mallory-password")


@pytest.fixture(autouse=True)
def media_root(tmp_path_factory, settings):
    """Uploaded files go to a directory of this test's own, removed with the test's temporary files."""
    root = tmp_path_factory.mktemp("media")
    settings.MEDIA_ROOT = str(root)
    return root
