from django.urls import path

from chat import views

app_name = "chat"
urlpatterns = [
    path("", views.chat_page, name="index"),
    path("c/<int:conversation_id>/", views.chat_page, name="conversation"),
    path("account/tokens/", views.tokens_page, name="tokens"),
    path("personas/", views.personas_page, name="personas"),
    path("personas/<int:persona_id>/", views.persona_edit, name="persona-edit"),
    path("personas/<int:persona_id>/delete/", views.persona_delete, name="persona-delete"),
    path("audio/<int:audio_id>/", views.audio_file, name="audio"),
    path("documents/", views.documents_page, name="documents"),
    path("documents/<int:document_id>/delete/", views.document_delete, name="document-delete"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
]
