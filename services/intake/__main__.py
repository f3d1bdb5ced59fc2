"""`python -m services.intake`."""

from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.service import serve

if __name__ == "__main__":
    serve(create_app, IntakeSettings())
