from django.urls import path

from chat import views

app_name = "chat"
urlpatterns = [
    path("", views.chat_page, name="index"),
    path("c/<int:conversation_id>/", views.chat_page, name="conversation"),
    path("account/tokens/", views.tokens_page, name="tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
]
