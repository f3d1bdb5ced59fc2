"""`python -m services.sla`."""

from services.sla.main import create_app
from services.sla.settings import SlaSettings
from shared.service import serve

if __name__ == "__main__":
    serve(create_app, SlaSettings())
