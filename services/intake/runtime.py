"""Intake's typed runtime: the singletons one intake process holds beside the shared ones."""

from __future__ import annotations

from dataclasses import dataclass

from services.intake.limits import Limiters
from services.intake.needs.group_commit import SubmissionGroups
from services.intake.settings import IntakeSettings
from shared.service import ServiceRuntime


@dataclass(frozen=True)
class IntakeExtras:
    """Built once in main.py: where unkeyed submissions gather for group commit, and this process's
    submission rate limits."""

    submission_groups: SubmissionGroups
    limiters: Limiters


IntakeRuntime = ServiceRuntime[IntakeSettings, IntakeExtras]
