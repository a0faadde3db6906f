"""The imperative shell of triaged: HTTP, Redis, workers, scheduler, CLI.

Everything that waits on the network or the clock lives here; decisions are delegated
to the pure ``triage`` and ``routing`` packages.
"""
