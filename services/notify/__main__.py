"""`python -m services.notify`."""

from services.notify.main import create_app
from services.notify.settings import NotifySettings
from shared.service import serve

if __name__ == "__main__":
    serve(create_app, NotifySettings())
