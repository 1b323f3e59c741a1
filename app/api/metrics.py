"""Prometheus metrics of one server process: decisions, latencies, issuance. No personal data in labels."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "suishen_decisions", "Verify requests by result and reason.", ["result", "reason"], registry=self.registry
        )
        self.verify_seconds = Histogram(
            "suishen_verify_seconds", "Time to verify and decide, in process.", registry=self.registry,
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
        )  # fmt: skip
        self.issued = Counter("suishen_codes_issued", "Codes and credentials issued.", ["kind"], registry=self.registry)
        self.requests = Histogram(
            "suishen_request_seconds", "HTTP request time by route.", ["route", "status"], registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5),
        )  # fmt: skip
        reg = self.registry
        self.events = Counter("suishen_gate_events", "Gate events stored, and duplicates.", ["outcome"], registry=reg)
        self.rate_limited = Counter("suishen_rate_limited", "Requests refused by rate limits.", ["scope"], registry=reg)
        # A gate's outbox backlog, seen from here: how old its decisions are when they arrive.
        self.event_lag = Histogram(
            "suishen_gate_event_lag_seconds", "Age of a gate decision when its upload arrives (outbox backlog).",
            registry=reg, buckets=(5, 30, 60, 300, 900, 3600, 21600, 86400),
        )  # fmt: skip


class StateCollector:
    """Gauges read at scrape time from a process's state: what an operator alerts on (docs/deploy.md).

    `read` returns {metric name: (help, {label value or "": number})}; a failure to read leaves that
    scrape without the gauges rather than failing /metrics.
    """

    def __init__(self, read: Any) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            state = self.read()
        except Exception:  # a database away for a moment: the counters above are still served
            return
        for name, (help_text, values) in state.items():
            label = "status" if name == "suishen_deliveries" else None
            family = GaugeMetricFamily(name, help_text, labels=[label] if label else None)
            for key, value in values.items():
                if label:
                    family.add_metric([key], value)
                else:
                    family.add_metric([], value)
            yield family
