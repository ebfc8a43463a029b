"""The server's counters and latency histograms, written in the Prometheus text format.

``GET /metrics`` returns :meth:`ServeMetrics.render`: requests by status, answers per arm,
arm failures, tokens, dollars spent against what the reference was estimated to cost, and
histograms of request, routing, sampling and scoring latency. Updated from the event loop only.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Sequence

from bestroute.trace import Trace

#: Latency bucket bounds in seconds (Prometheus' defaults, extended to a minute).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

Labels = tuple[tuple[str, str], ...]


class Counter:
    """A monotonically increasing value per label set."""

    kind = "counter"

    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self.values: dict[Labels, float] = defaultdict(float)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self.values[tuple(sorted(labels.items()))] += amount

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        values = self.values or {(): 0.0}
        out += [f"{self.name}{_labels(k)} {_number(v)}" for k, v in sorted(values.items())]
        return out


class Gauge(Counter):
    """A value that goes up and down (requests in flight)."""

    kind = "gauge"

    def dec(self, amount: float = 1.0, **labels: str) -> None:
        self.inc(-amount, **labels)


class Histogram:
    """Observations counted in cumulative buckets, with their sum and count."""

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float] = LATENCY_BUCKETS
    ) -> None:
        self.name, self.help = name, help_text
        self.buckets = tuple(sorted(buckets))
        self.counts: dict[Labels, list[int]] = {}
        self.sums: dict[Labels, float] = defaultdict(float)

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        counts = self.counts.setdefault(key, [0] * (len(self.buckets) + 1))
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sums[key] += value

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, counts in sorted(self.counts.items()):
            running = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                running += count
                le = "+Inf" if bound == math.inf else _number(bound)
                out.append(f"{self.name}_bucket{_labels((*key, ('le', le)))} {running}")
            out.append(f"{self.name}_sum{_labels(key)} {_number(self.sums[key])}")
            out.append(f"{self.name}_count{_labels(key)} {running}")
        return out


class ServeMetrics:
    """Everything ``GET /metrics`` reports."""

    def __init__(self) -> None:
        self.requests = Counter(
            "bestroute_requests_total", "Chat completion requests answered, by HTTP status."
        )
        self.in_flight = Gauge(
            "bestroute_requests_in_flight", "Chat completion requests being answered now."
        )
        self.arm_answers = Counter(
            "bestroute_arm_answers_total", "Requests answered by each arm (model@n)."
        )
        self.arm_failures = Counter(
            "bestroute_arm_failures_total", "Arms that failed and were fallen back from."
        )
        self.tokens = Counter(
            "bestroute_tokens_total", "Tokens billed over every sample, by kind (input/output)."
        )
        self.dollars = Counter(
            "bestroute_dollars_spent_total", "Dollars spent on every sample drawn."
        )
        self.reference_dollars = Counter(
            "bestroute_reference_dollars_estimated_total",
            "Dollars the reference model was estimated to cost for the same requests.",
        )
        self.request_latency = Histogram(
            "bestroute_request_latency_seconds", "Time to answer a chat completion request."
        )
        self.stage_latency = Histogram(
            "bestroute_stage_latency_seconds",
            "Time spent per stage of a request (routing, sampling, scoring).",
        )

    def observe_trace(self, trace: Trace, reference_key: str) -> None:
        """Count what one routed request drew and paid (its answer or its failures)."""
        for attempt in trace.attempts:
            if not attempt.succeeded:
                self.arm_failures.inc(arm=attempt.arm.key)
        final = trace.final
        if final is not None:
            self.arm_answers.inc(arm=final.arm.key)
        self.tokens.inc(trace.input_tokens, kind="input")
        self.tokens.inc(trace.output_tokens, kind="output")
        self.dollars.inc(trace.actual_cost)
        self.reference_dollars.inc(trace.decision.estimated_costs.get(reference_key, 0.0))
        self.stage_latency.observe(trace.routing_latency_s, stage="routing")
        self.stage_latency.observe(trace.sampling_latency_s, stage="sampling")
        self.stage_latency.observe(trace.scoring_latency_s, stage="scoring")

    def observe_request(self, status: int, latency_s: float, *, stream: bool) -> None:
        self.requests.inc(status=str(status), stream=str(stream).lower())
        self.request_latency.observe(latency_s, stream=str(stream).lower())

    def render(self) -> str:
        metrics = (
            self.requests,
            self.in_flight,
            self.arm_answers,
            self.arm_failures,
            self.tokens,
            self.dollars,
            self.reference_dollars,
            self.request_latency,
            self.stage_latency,
        )
        return "\n".join(line for metric in metrics for line in metric.lines()) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))
