"""The container entry scripts: thin wrappers around `telecom`, and the billing job's schedule."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest
from compose_stack import REPO


def load_script(relative: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(relative.replace("/", "_").replace("-", "_")[:-3],
                                                  REPO / relative)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def billing() -> ModuleType:
    return load_script("billing-job/entrypoint.py")


class Recorder:
    """Stands in for `telecom_billing.cli.main`: records the argv, answers the given statuses."""

    def __init__(self, *statuses: int) -> None:
        self.calls: list[list[str]] = []
        self.statuses = list(statuses)

    def __call__(self, argv: list[str]) -> int:
        self.calls.append(list(argv))
        return self.statuses.pop(0)


def test_rating_entry_point_is_telecom_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    rating = load_script("rating-job/entrypoint.py")
    recorder = Recorder(0)
    monkeypatch.setattr(rating.cli, "main", recorder)
    assert rating.main(["--once", "--trigger", "5 seconds"]) == 0
    assert recorder.calls == [["stream", "--once", "--trigger", "5 seconds"]]


def test_billing_with_arguments_runs_once(billing: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(1)
    monkeypatch.setattr(billing.cli, "main", recorder)
    assert billing.main(["--period", "2026-11"]) == 1
    assert recorder.calls == [["bill", "--period", "2026-11"]]


def test_schedule_retries_failures_and_stops_on_a_usage_error(billing: ModuleType,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(1, 0, 2)
    sleeps: list[float] = []
    monkeypatch.setattr(billing.cli, "main", recorder)
    monkeypatch.setattr(billing.time, "sleep", sleeps.append)
    monkeypatch.setenv("BILLING_INTERVAL_SECONDS", "600")
    assert billing.main([]) == 2
    assert recorder.calls == [["bill", "--due", "--wait", "300.0"]] * 3  # a final waits at most 300 s
    assert sleeps == [600.0, 600.0]


def test_schedule_needs_an_interval(billing: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    recorder = Recorder()
    monkeypatch.setattr(billing.cli, "main", recorder)
    monkeypatch.delenv("BILLING_INTERVAL_SECONDS", raising=False)
    assert billing.main([]) == 2
    assert "BILLING_INTERVAL_SECONDS" in capsys.readouterr().err
    assert recorder.calls == []
