"""The personas pages through Django's test client: a person's own personas only, built-in ones read-only."""

from __future__ import annotations

import pytest

from chat import services
from chat.models import Persona

pytestmark = pytest.mark.django_db


def test_another_persons_persona_is_404_on_the_edit_and_delete_pages_and_stays_as_it_was(client, user, other_user):
    theirs = services.persona_create(owner=other_user, name="Theirs", system_prompt="You are Theirs.")
    client.force_login(user)

    assert client.get(f"/personas/{theirs.pk}/").status_code == 404
    assert client.post(f"/personas/{theirs.pk}/", {"name": "Mine", "system_prompt": "x"}).status_code == 404
    assert client.post(f"/personas/{theirs.pk}/delete/").status_code == 404
    listed = client.get("/personas/")
    assert b"Theirs" not in listed.content and b"Skeptic" in listed.content
    theirs.refresh_from_db()
    assert (theirs.name, theirs.system_prompt) == ("Theirs", "You are Theirs.")


def test_a_built_in_persona_has_no_edit_page_and_cannot_be_deleted(client, user):
    client.force_login(user)
    client.get("/personas/")  # the built-in ones exist from the first look
    skeptic = Persona.objects.get(owner=None, name="Skeptic")
    assert client.get(f"/personas/{skeptic.pk}/").status_code == 404
    assert client.post(f"/personas/{skeptic.pk}/delete/").status_code == 404
    assert Persona.objects.filter(pk=skeptic.pk).exists()


def test_a_persona_is_made_and_changed_on_its_pages_and_a_mistake_keeps_what_was_typed(client, user):
    client.force_login(user)
    made = client.post("/personas/", {"name": "Ada", "system_prompt": "You are Ada.", "temperature": "0.5",
                                      "tools": "builtin__calculator, builtin__current_time"})
    assert made.status_code == 302
    ada = Persona.objects.get(owner=user, name="Ada")
    assert (ada.temperature, ada.tools) == (0.5, ["builtin__calculator", "builtin__current_time"])

    refused = client.post(f"/personas/{ada.pk}/", {"name": "Ada", "system_prompt": "You are Ada.", "temperature": "9"})
    assert refused.status_code == 400 and b"from 0 to 2" in refused.content
    ada.refresh_from_db()
    assert ada.temperature == 0.5
    changed = client.post(f"/personas/{ada.pk}/", {"name": "Ada", "system_prompt": "You are Ada, briefly.", "tools": ""})
    assert changed.status_code == 302
    ada.refresh_from_db()
    assert (ada.system_prompt, ada.tools, ada.temperature) == ("You are Ada, briefly.", None, None)
