"""Intake's SQL: cases and their timelines, submissions, idempotency keys and callbacks, the status consumer's store."""

from services.intake.store.cases import (
    Conn as Conn,
)
from services.intake.store.cases import (
    Connection as Connection,
)
from services.intake.store.cases import (
    DatabaseError as DatabaseError,
)
from services.intake.store.cases import (
    Lookup as Lookup,
)
from services.intake.store.cases import (
    Pool as Pool,
)
from services.intake.store.cases import (
    Record as Record,
)
from services.intake.store.cases import (
    add_timeline as add_timeline,
)
from services.intake.store.cases import (
    apply_change as apply_change,
)
from services.intake.store.cases import (
    bump_reporter_counts as bump_reporter_counts,
)
from services.intake.store.cases import (
    count_report as count_report,
)
from services.intake.store.cases import (
    get_case as get_case,
)
from services.intake.store.cases import (
    get_timeline as get_timeline,
)
from services.intake.store.cases import (
    insert_cases as insert_cases,
)
from services.intake.store.cases import (
    list_cases as list_cases,
)
from services.intake.store.cases import (
    lock_cases as lock_cases,
)
from services.intake.store.cases import (
    lock_for_feedback as lock_for_feedback,
)
from services.intake.store.cases import (
    lock_places as lock_places,
)
from services.intake.store.cases import (
    open_candidates as open_candidates,
)
from services.intake.store.cases import (
    open_candidates_many as open_candidates_many,
)
from services.intake.store.cases import (
    set_expected as set_expected,
)
from services.intake.store.cases import (
    set_reporter_counts as set_reporter_counts,
)
from services.intake.store.cases import (
    status_of as status_of,
)
from services.intake.store.links import (
    claim_idempotency_key as claim_idempotency_key,
)
from services.intake.store.links import (
    finish_idempotency_key as finish_idempotency_key,
)
from services.intake.store.links import (
    get_feedback as get_feedback,
)
from services.intake.store.links import (
    get_own_submission as get_own_submission,
)
from services.intake.store.links import (
    get_submission as get_submission,
)
from services.intake.store.links import (
    insert_feedback as insert_feedback,
)
from services.intake.store.links import (
    insert_submissions as insert_submissions,
)
from services.intake.store.links import (
    round_counted as round_counted,
)
from services.intake.store.status import PgStatusStore as PgStatusStore
from services.intake.store.status import StatusStore as StatusStore
