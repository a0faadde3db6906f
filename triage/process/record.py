"""The process record an incident carries: its procedure's checklist and everything done under it.

These are plain stored values with no behaviour of their own, kept in a module that imports
nothing from ``triage.incident``, so ``Incident`` can hold a ``ProcessRecord`` without an
import cycle (the process modules import ``triage.incident`` for the timeline).
``triage.process.live`` holds the decisions that change the record.

Every incident document carries its record and the pipeline reads and writes documents in
bulk, so fields at their defaults are left out of the stored JSON (``omit_defaults``).
"""

from __future__ import annotations

import enum

import msgspec


class ChecklistItem(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    title: str
    required: bool
    role: str | None = None
    done_at: float | None = None
    done_by: str | None = None
    note: str = ""

    @property
    def done(self) -> bool:
        return self.done_at is not None


class FollowUp(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    title: str
    owner: str
    created_at: float
    created_by: str
    due_at: float | None = None
    done_at: float | None = None
    done_by: str | None = None


class Pause(msgspec.Struct, frozen=True, omit_defaults=True):
    """Time the clocks stand still: waiting on the customer or a supplier.

    ``end`` is None while the pause lasts.
    """

    start: float
    end: float | None = None
    reason: str = "customer"


class Frequency(enum.StrEnum):
    NEW = "new"
    RARE = "rare"
    FREQUENT = "frequent"


class Seen(msgspec.Struct, frozen=True):
    """ "seen 4 times in 30d": incidents like this one in the window ending at its creation."""

    count: int  # incidents like this one in the window, itself included
    label: Frequency
    text: str


class ProcessRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The incident's procedure as it was started, and what has been done under it.

    ``procedure`` itself stays on the incident (``Incident.procedure``); this records the
    reason it was chosen and the parts of it that were copied at the start (so a later
    config change does not rewrite what was agreed for an incident in flight).
    ``targets`` holds the last recorded state of each service-target clock, so each
    at-risk, breach and met is recorded once.
    """

    reason: str = ""
    checklist: list[ChecklistItem] = []
    engaged: list[str] = []
    update_every: float | None = None
    notify_subscribers: bool = False
    review_required: bool = False
    follow_ups: list[FollowUp] = []
    pauses: list[Pause] = []
    resolution_code: str | None = None
    resolution_notes: str = ""
    cancelled: str | None = None  # duplicate | false-alarm | drill
    problem_id: str | None = None
    updates: int = 0
    last_update_at: float | None = None
    reminded_at: float | None = None  # the last reminder that an update is overdue
    evaluated_at: float | None = None  # when the process timer last looked
    targets: dict[str, str] = {}  # clock -> last recorded state
    stopped: dict[str, float] = {}  # clock -> the stop last recorded (for the metrics)
    announced_opening: bool = False  # subscribers heard of the opening
    announced_updates: int = 0  # ... of this many updates
    announced_resolutions: int = 0  # ... of this many resolutions (one per reopen cycle)
    seen: Seen | None = None
