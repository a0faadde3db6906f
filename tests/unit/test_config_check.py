"""``triaged config check``: the configuration and the routing file it names (groups,
escalation policies, routes) are validated without starting, each problem named by
file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.cli import main

ROUTING = """\
groups:
  - name: ops
    escalation_policy: nope
    channels: [pager]
escalation_policies:
  - name: p
    levels: [{timeout: soon, targets: [on-call]}]
route:
  group: ops
  routes:
    - matchers: ['a=~"("']
      group: nobody
"""


def test_every_routing_problem_is_named_by_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "routing.yaml").write_text(ROUTING)
    config = tmp_path / "triaged.yaml"
    config.write_text("routing_file: routing.yaml\n")
    assert main(["config", "check", "--config", str(config)]) == 1
    lines = capsys.readouterr().err.splitlines()
    rules = tmp_path / "routing.yaml"
    expected = [
        f"{rules}:3: groups[0].escalation_policy: unknown escalation policy 'nope'",
        f"{rules}:4: groups[0].channels[0]: unknown channel 'pager'",
        f"{rules}:7: escalation_policies[0].levels[0].timeout: invalid duration 'soon'",
        f"{rules}:11: route.routes[0].matchers[0]: invalid regular expression '('",
        f"{rules}:12: route.routes[0].group: unknown resolver group 'nobody'",
    ]
    for prefix in expected:
        assert any(line.startswith(prefix) for line in lines), (prefix, lines)


def test_a_valid_configuration_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "routing.yaml").write_text("groups:\n  - name: ops\nroute:\n  group: ops\n")
    config = tmp_path / "triaged.yaml"
    config.write_text("routing_file: routing.yaml\n")
    assert main(["config", "check", "--config", str(config)]) == 0
    assert capsys.readouterr().err == ""
