"""The incident process: what happens to an incident besides alert handling.

An incident-management practice is more than an alert pipe: each kind of incident follows
an agreed procedure, targets are watched, recurring causes surface and the process reports
on itself. This package holds those rules as pure functions over plain values and ``now``,
like the rest of ``triage``; the daemon supplies the values and persists the results.

- ``common``: priorities, the config base, problem collection, durations;
- ``procedures``: procedure definitions, selection, checklists, closure and visibility;
- ``targets``: respond/resolve targets, business-hours calendars, pauses, target status;
- ``kpis``: ``IncidentFacts`` and the KPI report (table, CSV, JSON);
- ``recurrence``: problem candidates and "seen N times in 30 days";
- ``review``: the Markdown post-incident review and its follow-up actions;
- ``config``: the ``process`` configuration section and its compilation;
- ``uci_import``: the UCI incident event log as ``IncidentFacts`` (the one module that
  reads a file, because a history import is a batch job over a local dataset).

Modules are imported by their own names; this package imports none of them, so the
daemon pays only for what it uses.
"""
