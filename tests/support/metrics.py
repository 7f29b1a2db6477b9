"""Read `/metrics` through the real ASGI application, as a scraper at a given address would, and compare scrapes.

Metrics are process-global, so tests assert on the difference between a scrape before and one after
their workload (`after - before`), never on absolute counts another test may have moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asgiref.testing import ApplicationCommunicator
from prometheus_client.parser import text_string_to_metric_families

from chatsite.asgi import application

Key = tuple[str, frozenset[tuple[str, str]]]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: str = field(repr=False)


def counter_value(name: str, **labels: str) -> float:
    """A sample of this process's own registry, without a scrape (0 before its first event)."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


async def get_metrics(token: str | None = None, address: str = "127.0.0.1", timeout: float = 10) -> Answer:
    """GET /metrics from `address`, with `Authorization: Bearer <token>` when a token is given."""
    headers = [(b"host", b"localhost")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/metrics", "raw_path": b"/metrics", "query_string": b"", "root_path": "", "headers": headers,
        "client": (address, 50123), "server": ("localhost", 80),
    }
    communicator = ApplicationCommunicator(application, scope)
    try:
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(timeout)
        assert start["type"] == "http.response.start", f"expected the response start, got {start}"
        body = b""
        while True:
            part = await communicator.receive_output(timeout)
            body += part.get("body", b"")
            if not part.get("more_body"):
                break
    finally:
        await communicator.wait(timeout)
    names = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
    return Answer(start["status"], names, body.decode())


async def scrape(token: str) -> Scrape:
    answer = await get_metrics(token)
    assert answer.status == 200, f"/metrics answered {answer.status}: {answer.body[:200]}"
    return Scrape.parse(answer.body)


@dataclass(frozen=True)
class Scrape:
    """Every sample of one exposition, by sample name (`chat_frames_in_total`, `..._count`) and labels."""

    samples: dict[Key, float] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples: dict[Key, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return cls(samples)

    def value(self, name: str, **labels: str) -> float:
        """The sample with exactly these labels (0 when absent: a labelled counter appears at its first event)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """The samples of `name` by the value of one label, without zeros."""
        return {
            dict(labels)[label]: value for (sample, labels), value in self.samples.items()
            if sample == name and label in dict(labels) and value
        }

    def __sub__(self, before: Scrape) -> Scrape:
        return Scrape({key: value - before.samples.get(key, 0.0) for key, value in self.samples.items()})
