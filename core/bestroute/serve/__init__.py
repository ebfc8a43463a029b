"""``bestroute serve``: BEST-Route behind an OpenAI-compatible HTTP API.

Any OpenAI client (``base_url=http://host:port/v1``, model ``bestroute``) gets the routed
answer; ``usage`` sums every sample drawn, ``model`` names the pool member that answered, and
the routing details come in the ``bestroute`` field and ``x-bestroute-*`` headers. Needs the
``serve`` extra (starlette, uvicorn).
"""

from bestroute.errors import RequestError
from bestroute.serve.app import create_app
from bestroute.serve.loading import load_engine
from bestroute.serve.metrics import ServeMetrics
from bestroute.serve.protocol import ChatRequest, parse_chat_request
from bestroute.serve.service import RoutingService
from bestroute.serve.settings import ServeSettings

__all__ = [
    "ChatRequest",
    "RequestError",
    "RoutingService",
    "ServeMetrics",
    "ServeSettings",
    "create_app",
    "load_engine",
    "parse_chat_request",
]
