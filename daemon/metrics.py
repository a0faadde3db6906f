"""Prometheus metrics, all named ``triaged_*`` with base units and bounded labels.

Each app gets its own registry, so tests can run several apps in one process and the
daemon's ``/metrics`` shows only what this process measured (plus process figures).
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

_LATENCY_BUCKETS = (
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075,
    0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0,
)  # fmt: skip
_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
# Incident durations: the service targets' steps (15m, 30m, 4h, 8h, 1d, 3d, 5d) and beyond.
_INCIDENT_BUCKETS = (
    60, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 432000, 604800, 2592000,
)  # fmt: skip


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.alerts_received = Counter(
            "triaged_alerts_received_total",
            "Alerts received over HTTP by source and outcome: accepted, rate_limited, unavailable.",
            ["source", "outcome"],
            registry=r,
        )
        self.requests_rejected = Counter(
            "triaged_ingest_requests_rejected_total",
            "Ingest requests answered with an error, by source and HTTP status.",
            ["source", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "triaged_http_request_duration_seconds",
            "HTTP request handling time, by route and method.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.dedup = Counter(
            "triaged_dedup_events_total",
            "Alert events by what dedup made of them (new, refreshed, resolved, stale, ...).",
            ["change"],
            registry=r,
        )
        self.incidents_opened = Counter(
            "triaged_incidents_opened_total", "Incidents opened by the pipeline.", registry=r
        )
        self.incidents_reopened = Counter(
            "triaged_incidents_reopened_total",
            "Resolved incidents reopened by an alert firing again within the reopen window.",
            registry=r,
        )
        self.incidents_resolved = Counter(
            "triaged_incidents_resolved_total",
            "Incidents resolved, by how (auto: all alerts resolved; manual: an operator).",
            ["how"],
            registry=r,
        )
        self.incident_actions = Counter(
            "triaged_incident_actions_total",
            "Operator actions on incidents.",
            ["action"],
            registry=r,
        )
        # The incident process (daemon/process_stage.py, daemon/process_timers.py).
        self.procedures_started = Counter(
            "triaged_procedures_started_total",
            "Procedures started on incidents (on opening, or after a reclassification).",
            ["procedure"],
            registry=r,
        )
        self.service_targets = Counter(
            "triaged_service_targets_total",
            "Service-target clocks (respond, resolve) recorded at risk, breached or met.",
            ["clock", "state"],
            registry=r,
        )
        self.respond_seconds = Histogram(
            "triaged_incident_respond_seconds",
            "From an incident's registration to its first acknowledgement or resolution.",
            ["priority"],
            buckets=_INCIDENT_BUCKETS,
            registry=r,
        )
        self.resolve_seconds = Histogram(
            "triaged_incident_resolve_seconds",
            "From an incident's registration to its resolution (again after each reopen).",
            ["priority"],
            buckets=_INCIDENT_BUCKETS,
            registry=r,
        )
        self.incident_updates = Counter(
            "triaged_incident_updates_total", "Stakeholder updates posted on incidents.", registry=r
        )
        self.update_reminders = Counter(
            "triaged_update_reminders_total",
            "Reminders to an incident's group that a stakeholder update is overdue.",
            registry=r,
        )
        self.incidents_closed = Counter(
            "triaged_incidents_closed_total",
            "Incidents closed, by how (manual, forced over open steps, auto after resolution).",
            ["how"],
            registry=r,
        )
        self.incidents_cancelled = Counter(
            "triaged_incidents_cancelled_total",
            "Incidents cancelled, by reason (duplicate, false-alarm, drill).",
            ["reason"],
            registry=r,
        )
        self.backlog = Gauge(
            "triaged_backlog_incidents",
            "Open incidents by age since registration (bucket edges: process.reports).",
            ["age"],
            registry=r,
        )
        self.backlog_stale = Gauge(
            "triaged_backlog_stale_incidents",
            "Open incidents not updated within process.reports.stale_after.",
            registry=r,
        )
        self.open_by_procedure = Gauge(
            "triaged_incidents_open_by_procedure",
            "Open incidents by the procedure they follow.",
            ["procedure"],
            registry=r,
        )
        self.processed = Counter(
            "triaged_pipeline_alerts_processed_total",
            "Alert events (including expiries) committed by the pipeline.",
            registry=r,
        )
        self.batch_size = Histogram(
            "triaged_pipeline_batch_events",
            "Events per pipeline batch.",
            buckets=_SIZE_BUCKETS,
            registry=r,
        )
        self.stage_seconds = Histogram(
            "triaged_pipeline_stage_seconds",
            "Time per batch in each pipeline stage (load, fold, record) and in all (batch).",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.end_to_end = Histogram(
            "triaged_pipeline_end_to_end_seconds",
            "From an alert being accepted to its incident change being recorded.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.conflicts = Counter(
            "triaged_pipeline_conflicts_total",
            "Batches recomputed because another worker changed the same state first.",
            registry=r,
        )
        self.dead_letters = Counter(
            "triaged_pipeline_dead_letters_total",
            "Stream entries moved to the dead-letter stream after failing processing.",
            registry=r,
        )
        self.claimed = Counter(
            "triaged_pipeline_claimed_entries_total",
            "Entries taken over from consumers that stopped acknowledging.",
            registry=r,
        )
        self.expiries = Counter(
            "triaged_expiries_enqueued_total",
            "Firing alerts whose endsAt passed without refresh, queued for resolution.",
            registry=r,
        )
        self.route_hits = Counter(
            "triaged_route_hits_total",
            "Incidents routed, by the route that decided (route keys from the routing file).",
            ["route"],
            registry=r,
        )
        self.escalations = Counter(
            "triaged_escalations_total",
            "Escalation steps taken, by reason (timeout, unresolved, manual).",
            ["reason"],
            registry=r,
        )
        self.reloads = Counter(
            "triaged_config_reloads_total",
            "Routing reloads (API or SIGHUP), by outcome (success, failed).",
            ["outcome"],
            registry=r,
        )
        self.heartbeats = Counter(
            "triaged_heartbeats_total",
            "Heartbeat check-ins received and heartbeats found missed.",
            ["event"],
            registry=r,
        )
        self.stream_length = Gauge(
            "triaged_stream_length_entries", "Entries in the ingest stream.", registry=r
        )
        self.stream_pending = Gauge(
            "triaged_stream_pending_entries",
            "Ingest entries delivered to a consumer and not yet acknowledged.",
            registry=r,
        )
        self.incidents_open = Gauge(
            "triaged_incidents_open", "Incidents triggered or acknowledged.", registry=r
        )
        self.redis_rss = Gauge(
            "triaged_redis_memory_rss_bytes", "Resident memory of the Redis server.", registry=r
        )
        self.redis_up = Gauge(
            "triaged_redis_up", "1 when the last Redis health probe succeeded.", registry=r
        )
        self.workers_alive = Gauge(
            "triaged_pipeline_workers_alive", "Pipeline worker tasks running.", registry=r
        )
        self.delivery_attempts = Counter(
            "triaged_delivery_attempts_total",
            "Notification send attempts, by channel and outcome (delivered, retry, dead).",
            ["channel", "outcome"],
            registry=r,
        )
        self.delivery_seconds = Histogram(
            "triaged_delivery_attempt_duration_seconds",
            "Time one send attempt took, by channel.",
            ["channel"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.delivery_dead_letters = Counter(
            "triaged_delivery_dead_letters_total",
            "Notifications moved to the delivery dead-letter stream, by cause"
            " (permanent, exhausted, unknown_channel, undecodable, crashed).",
            ["cause"],
            registry=r,
        )
        self.delivery_duplicates = Counter(
            "triaged_delivery_duplicates_total",
            "Notifications not sent because their idempotency key was already delivered.",
            registry=r,
        )
        self.delivery_deferred = Counter(
            "triaged_delivery_deferred_total",
            "Notifications put back without an attempt, by channel and reason"
            " (rate_limited, in_flight).",
            ["channel", "reason"],
            registry=r,
        )
        self.delivery_redriven = Counter(
            "triaged_delivery_redriven_total",
            "Dead-lettered notifications re-queued by an operator.",
            registry=r,
        )
        self.delivery_queue = Gauge(
            "triaged_delivery_queue_entries",
            "Notifications waiting, by queue: outbox (to send), retry (backing off), dead.",
            ["queue"],
            registry=r,
        )
        self.triage_predictions = Counter(
            "triaged_triage_predictions_total",
            "Decisions on new incidents by field (category, group, service) and what decided:"
            " model, corrections-memory, input, triage-queue (the model abstained).",
            ["field", "decided_by"],
            registry=r,
        )
        self.triage_seconds = Histogram(
            "triaged_triage_batch_seconds",
            "Time the models took to classify one pipeline batch of new incidents.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.triage_corrections = Counter(
            "triaged_triage_corrections_total",
            "Operators' corrections kept as training labels, by field (group, category).",
            ["field"],
            registry=r,
        )
        self.triage_reprioritised = Counter(
            "triaged_triage_reprioritised_total",
            "Open incidents whose priority rose because their scope grew.",
            registry=r,
        )
        self.model_info = Gauge(
            "triaged_model_info",
            "The model version in service (value 1), by model.",
            ["model", "version"],
            registry=r,
        )
        self.model_retrains = Counter(
            "triaged_model_retrains_total",
            "Retrain runs by result: promoted, kept (the champion stayed), failed.",
            ["result"],
            registry=r,
        )
        self.correlation_decisions = Counter(
            "triaged_correlation_decisions_total",
            "Alerts correlated, by the rule that placed them (override, key, topology,"
            " similarity, new).",
            ["rule"],
            registry=r,
        )
        self.alerts_held = Counter(
            "triaged_correlation_alerts_held_total",
            "Firing alerts held by the admission thresholds instead of opening an incident.",
            registry=r,
        )
        self.transient_alerts = Counter(
            "triaged_correlation_transient_alerts_total",
            "Held alerts that resolved before admission: kept and counted, no incident.",
            registry=r,
        )
        self.flapping = Counter(
            "triaged_correlation_flapping_total",
            "Alerts that started or stopped flapping, by change (started, stopped).",
            ["change"],
            registry=r,
        )
        self.keys_held = Gauge(
            "triaged_correlation_keys_held",
            "Incident keys holding alerts until an admission timer admits them.",
            registry=r,
        )
        self.grouping_corrections = Counter(
            "triaged_correlation_corrections_total",
            "Grouping corrections applied, by kind (merge, split, auto-merge).",
            ["kind"],
            registry=r,
        )
