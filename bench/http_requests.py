"""HTTP API requests through a real daphne, as ratios to `/healthz` in the same run, and the database
connections they open (chatsite/http_threads.py).

Run with `make bench-http` (about 1 min); see bench/README.md. For each setup (SQLite, and PostgreSQL where it
answers on 127.0.0.1:5432) one daphne serves; a client with a kept-alive connection sends REQUESTS sequential
`GET /healthz` (no I/O: the baseline), then the same number of `GET /api/v1/conversations` with a token
(middleware, token check, one list read), then CLIENTS clients send them at once. Printed, never asserted:
ms per request and its ratio to /healthz, and on PostgreSQL the sessions its statistics counted per 100 API
requests, warm-up included (read after daphne exits, when every backend has flushed its counters).

Progress goes to stderr; stdout gets the table and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import HOST, Children, log, manage, on_signal, site_env, start_daphne

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
HARD_LIMIT_SECONDS = 300
MAKE_TOKEN = (
    "from django.contrib.auth import get_user_model\nfrom chat import services\n"
    "user = get_user_model().objects.create_user(username='bench-http', password='!')\n"
    "print(services.api_token_create(owner=user, name='bench')[1])"
)


def pg_answers() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_ADMIN, connect_timeout=2).close()
        return True
    except Exception:  # noqa: BLE001 - any failure means the setup is skipped, and said so
        return False


def pg_sessions(database: str) -> int:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute("SELECT pg_stat_clear_snapshot()")
        row = admin.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (database,)).fetchone()
    return int(row[0]) if row else 0


def timed(base: str, path: str, count: int, headers: dict[str, str]) -> float:
    """ms per request for `count` GETs on one kept-alive connection, after 20 unmeasured ones."""
    import requests

    with requests.Session() as session:
        session.headers.update(headers)
        for _ in range(20):
            session.get(base + path, timeout=10).raise_for_status()
        start = time.perf_counter()
        for _ in range(count):
            session.get(base + path, timeout=10).raise_for_status()
        return (time.perf_counter() - start) / count * 1000


def measure(label: str, env: dict[str, str], tmp: Path, requests_: int, clients: int, database: str | None) -> dict[str, Any]:
    manage(["migrate", "--noinput"], env)
    token = manage(["shell", "-c", MAKE_TOKEN], env).strip().splitlines()[-1]
    sessions_before = pg_sessions(database) if database else 0
    children = Children()
    try:
        log(f"{label}: starting daphne")
        _, port = start_daphne(children, "chatsite.asgi:application", env, tmp / f"{label}.log", "/healthz")
        base, bearer = f"http://{HOST}:{port}", {"Authorization": f"Bearer {token}"}
        log(f"{label}: {requests_} sequential requests of each kind, then {clients} clients at once")
        healthz = timed(base, "/healthz", requests_, {})
        api = timed(base, "/api/v1/conversations", requests_, bearer)
        per_client = max(1, requests_ // clients)
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            start = time.perf_counter()
            list(pool.map(lambda _: timed(base, "/api/v1/conversations", per_client, bearer), range(clients)))
            concurrent_ms = (time.perf_counter() - start) / (per_client * clients) * 1000
    finally:
        children.stop()
    row: dict[str, Any] = {
        "setup": label, "healthz_ms": round(healthz, 2), "api_ms": round(api, 2), "api_ratio": round(api / healthz, 2),
        "concurrent_api_ms": round(concurrent_ms, 2), "concurrent_ratio": round(concurrent_ms / healthz, 2),
    }
    if database:
        time.sleep(1.0)  # allowed-sleep: exited backends' counters reach the statistics within a second
        api_requests = 20 + requests_ + clients * (20 + per_client)  # timed() sends 20 unmeasured first
        row["sessions_per_100_api_requests"] = round((pg_sessions(database) - sessions_before) * 100 / api_requests, 1)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="sequential requests of each kind (default 300)")
    parser.add_argument("--clients", type=int, default=4, help="clients at once in the concurrent round (default 4)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(HARD_LIMIT_SECONDS)
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="bench-http-") as directory:
        tmp = Path(directory)
        rows.append(measure("sqlite", site_env(DATABASE_URL=f"sqlite:///{tmp / 'bench.sqlite3'}"), tmp,
                            args.requests, args.clients, None))
        if pg_answers():
            import psycopg

            database = f"bench_http_{os.getpid()}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{database}"')
            try:
                env = site_env(DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}")
                rows.append(measure("postgresql", env, tmp, args.requests, args.clients, database))
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        else:
            notes.append("PostgreSQL SKIPPED: nothing answers on 127.0.0.1:5432")
    print(f"{'setup':<11} {'/healthz ms':>11} {'API ms':>8} {'ratio':>6} {f'{args.clients} at once ms':>14} {'ratio':>6} "
          f"{'PG sessions / 100 API requests':>31}")
    for row in rows:
        sessions = row.get("sessions_per_100_api_requests", "n/a")
        print(f"{row['setup']:<11} {row['healthz_ms']:>11.2f} {row['api_ms']:>8.2f} {row['api_ratio']:>6.2f} "
              f"{row['concurrent_api_ms']:>14.2f} {row['concurrent_ratio']:>6.2f} {sessions:>31}")
    for note in notes:
        print(note)
    print(json.dumps({"requests": args.requests, "clients": args.clients, "rows": rows, "notes": notes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
