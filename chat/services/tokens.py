"""API tokens: create (the secret is shown once), revoke, and authenticate a Bearer secret."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from chat.models import ApiToken

TOKEN_PREFIX = "chs_"



def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()



def api_token_create(*, owner: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """A new personal API token and its secret, which is returned here once and never stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        owner=owner, name=name, prefix=secret[: ApiToken.PREFIX_CHARS], digest=token_digest(secret)
    )
    return token, secret



def api_token_revoke(*, owner: AbstractBaseUser, token_id: int) -> bool:
    """Revoke one of owner's tokens; False when there is no such token of theirs. Revoking twice is fine."""
    tokens = ApiToken.objects.filter(owner=owner, pk=token_id)
    tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    return tokens.exists()



def api_token_authenticate(*, secret: str) -> AbstractBaseUser | None:
    """The active owner of an unrevoked token, recording its use at most once a minute; None otherwise."""
    token = (
        ApiToken.objects.filter(digest=token_digest(secret), revoked_at__isnull=True, owner__is_active=True)
        .select_related("owner").first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.owner
