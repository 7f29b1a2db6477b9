"""ASGI entry point: daphne serves HTTP through Django and WebSockets through the chat consumer."""

import gc
import os

# Start-up makes a few hundred thousand objects that live as long as the process. No cyclic collection
# while they are made (its full passes over them cost about a third of a second of every start), and once
# made they are frozen: later full collections skip them, so they pause the loop for less under load.
# An outer gc.disable() (the test plugin's, during collection) is left as it was.
_gc_was_enabled = gc.isenabled()
gc.disable()

from django.core.asgi import get_asgi_application  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402
from chat.turns import install_shutdown_hook  # noqa: E402
from chatsite.daphne_options import (  # noqa: E402
    close_failed_connections_cleanly,
    expose_send_buffer,
    release_unsent_data_on_close,
)
from chatsite.http_threads import ReusedThreads  # noqa: E402
from chatsite.origin import SameOriginValidator  # noqa: E402

close_failed_connections_cleanly()
release_unsent_data_on_close()
expose_send_buffer()

application = ProtocolTypeRouter(
    {
        "http": ReusedThreads(
            ASGIStaticFilesHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app, settings.HTTP_THREADS
        ),
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# On SIGTERM daphne stops its reactor: running replies are stored as stopped and MCP sessions closed first.
install_shutdown_hook()

gc.freeze()
if _gc_was_enabled:
    gc.enable()
