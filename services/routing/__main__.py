"""`python -m services.routing`."""

from services.routing.main import create_app
from services.routing.settings import RoutingSettings
from shared.service import serve

if __name__ == "__main__":
    serve(create_app, RoutingSettings())
