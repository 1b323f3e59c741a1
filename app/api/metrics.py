"""Prometheus metrics of one server process: decisions, latencies, issuance. No personal data in labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


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
