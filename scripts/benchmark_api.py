"""Benchmark: latency of the HTTP API's read endpoints with a million journeys in the read model.

    .venv/bin/python scripts/benchmark_api.py [--journeys 1000000] [--requests 2000]

Loads the journey counts view directly (journeys spread over the seed's countries, the
process's states, channels, sexes, ages, modalities, stages and 180 days of filing), starts the
API as ``lnere up`` does (``python -m api``, uvicorn, its own process), and times requests over
loopback HTTP from this process, one at a time:

- live counts (``/figures``), the log position unchanged between requests (answered from the
  per-position cache) and changed before every request (recomputed each time);
- the report as of a day (JSON and CSV), and a page of the review inbox.

Also times how long a new event takes to reach a long-polling dashboard. Prints its figures;
asserts nothing about speed. Temporal is not needed for reads: the API's client connects lazily.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import httpx
from eventsourcing.persistence import Tracking

from lnere.application.staff import StaffDirectory
from lnere.domain.process import ProcessCatalog
from lnere.domain.roles import Role
from lnere.projections.journey_counts import AGE_RANGES, JOURNEY_COLUMNS, JourneyCountsView
from lnere.projections.journey_counts.schema import inbox_group
from lnere.projections.runner import open_view, view_path
from lnere.runtime.stack import free_port
from lnere.settings import Settings

REPO = Path(__file__).resolve().parent.parent

STAGES = {"in_review": 3, "meets_requirements": 80, "inconsistencies": 6, "rejected": 3, "listed_for_review": 8}


def load_view(view: JourneyCountsView, process, journeys: int, seed: int = 1, stages: dict[str, int] | None = None,
              re_reviews: float = 0.0) -> int:
    """Writes ``journeys`` journeys' rows and counts straight into the view (in the ``stages``
    given, by weight; a ``re_reviews`` share of those in review back after a subsane); returns
    the log position it records (as if five events per journey had been projected)."""
    rng = random.Random(seed)
    stages = stages or STAGES
    published = json.loads((REPO / "simulation/scenarios/seed-2020-11-30.report.json").read_text())
    countries = [row["country_code"] for row in published["by_country_entity"]]
    weights = [row["total"] for row in published["by_country_entity"]]
    states = [s.code for s in process.states]
    stage_names, stage_weights = list(stages), list(stages.values())
    first_day = date(2020, 9, 1)
    deltas: Counter = Counter()
    rows = []
    for i in range(journeys):
        day = (first_day + timedelta(days=rng.randrange(180))).isoformat()
        country = rng.choices(countries, weights)[0]
        state = rng.choice(states)
        channel = rng.choice(("INETEL", "SRVE"))
        kind = "CPVE" if channel == "INETEL" or rng.random() < 0.8 else "CPV"
        sex = rng.choice("HM")
        age = rng.choice(AGE_RANGES)
        modality = rng.choice(("postal", "internet"))
        stage = rng.choices(stage_names, stage_weights)[0]
        analysis = stage if stage != "listed_for_review" else "meets_requirements"
        for dimension, key in (("country_state", f"{country}|{state}"), ("credential_channel", f"{kind}|{channel}"),
                               ("sex", sex), ("age", age), ("sex_age", f"{sex}|{age}"), ("modality", modality),
                               ("stage", stage), ("analysis", analysis)):
            deltas[(dimension, key, day)] += 1
        since = f"{day}T15:00:00.{i % 1_000_000:06d}Z"
        rows.append((f"{i:032x}", process.id, f"journey-{process.id}-{i:032x}", process.timezone, stage, analysis,
                     day, state, country, modality, channel, kind, since if stage == "in_review" else None,
                     2 if rng.random() < re_reviews else 1))
    position = journeys * 5
    with view.datastore.transaction(commit=True) as c:
        # The columns named: the view has more than these (list positions, exclusion reason).
        c.executemany(f"INSERT INTO journeys ({', '.join(JOURNEY_COLUMNS[:14])}) VALUES ({', '.join('?' * 14)})",
                      rows)
        c.executemany("INSERT INTO counts VALUES (?, ?, ?, ?, ?)",
                      [(process.id, day, dimension, key, n) for (dimension, key, day), n in deltas.items()])
        groups: Counter = Counter(inbox_group(dict(zip(JOURNEY_COLUMNS, row, strict=False))) for row in rows)
        c.executemany(f"INSERT INTO inbox_groups VALUES ({', '.join('?' * 8)})",
                      [(*group, n) for group, n in groups.items() if group is not None])
        totals: Counter = Counter()
        for (dimension, key, _), n in deltas.items():
            totals[(dimension, key)] += n
        c.executemany("INSERT INTO totals VALUES (?, ?, ?, ?)",
                      [(process.id, dimension, key, n) for (dimension, key), n in totals.items()])
    view.insert_tracking(Tracking("journeys", position))
    return position


def start_api(settings: Settings) -> tuple[subprocess.Popen, str]:
    """The API as ``lnere up`` starts it (its own process, on a free port; Temporal is not needed
    for reads: its client connects lazily), once it answers; and its address."""
    port = free_port()
    env = {**os.environ, "LNERE_DATA_DIR": str(settings.data_dir), "LNERE_JOURNEY_KEY": settings.journey_key or "",
           "LNERE_CIPHER_KEY": settings.cipher_key or "", "LNERE_API_PORT": str(port), "LNERE_LOG_LEVEL": "WARNING",
           "LNERE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    server = subprocess.Popen([sys.executable, "-m", "lnere.api"], env=env, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{base}/healthz")
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return server, base


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    return (statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99) - 1] * 1000, ordered[-1] * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--lags", type=int, default=50, help="new events timed to a long-polling dashboard")
    args = parser.parse_args()

    process = ProcessCatalog.load().get("pel-2020-2021")
    with tempfile.TemporaryDirectory(prefix="lnere-bench-api-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", journey_key=secrets.token_hex(32),
                            cipher_key=base64.b64encode(secrets.token_bytes(32)).decode())
        view = open_view(settings)
        started = time.monotonic()
        position = load_view(view, process, args.journeys)
        print(f"read model: {args.journeys:,} journeys loaded in {time.monotonic() - started:.1f} s "
              f"({os.path.getsize(view_path(settings)) / 1e6:.0f} MB)", flush=True)
        token = StaffDirectory(settings.staff_path).add("bench", Role.VIEWER)
        reviewer = StaffDirectory(settings.staff_path).add("bench.reviewer", Role.REVIEWER)
        server, address = start_api(settings)
        try:
            base = f"{address}/api/v1/processes/{process.id}"
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                results = []

                def timed(name: str, url: str, before=None, n: int = args.requests, headers=None) -> None:
                    samples = []
                    for _ in range(n):
                        if before:
                            before()
                        t0 = time.perf_counter()
                        answer = http.get(url, headers=headers)
                        samples.append(time.perf_counter() - t0)
                        assert answer.status_code == 200, answer.text
                    results.append((name, n, *percentiles(samples), len(answer.content)))

                position_now = [position]

                def new_position() -> None:
                    position_now[0] += 1
                    view.insert_tracking(Tracking("journeys", position_now[0]))

                timed("live counts (/figures), position unchanged", f"{base}/figures")
                timed("live counts (/figures), new position every request", f"{base}/figures", before=new_position)
                timed("report as of a day, JSON", f"{base}/report?as_of=2020-11-30", n=max(50, args.requests // 20))
                timed("report as of a day, CSV", f"{base}/report?as_of=2020-11-30&format=csv",
                      n=max(50, args.requests // 20))
                timed("figures as of a day (dashboard date picker)", f"{base}/figures?as_of=2020-11-30",
                      n=max(50, args.requests // 20), before=new_position)
                timed("review inbox, first page of 50", f"{base}/review-inbox?limit=50",
                      headers={"Authorization": f"Bearer {reviewer}"})

                # A new event reaching a long-polling dashboard.
                lags = []
                for _ in range(args.lags):
                    current = http.get(f"{base}/figures").json()["log_position"]
                    answered = threading.Event()
                    reached: list[float] = []

                    def poll(after: int, reached: list[float], answered: threading.Event) -> None:
                        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as other:
                            other.get(f"{base}/figures", params={"after": after, "wait": 20})
                        reached.append(time.perf_counter())
                        answered.set()

                    poller = threading.Thread(target=poll, args=(current, reached, answered))
                    poller.start()
                    time.sleep(0.3)
                    t0 = time.perf_counter()
                    new_position()
                    answered.wait(30)
                    poller.join()
                    lags.append(reached[0] - t0)
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(f"\n{args.journeys:,} journeys in the read model; sequential requests over loopback HTTP, 2 cores\n")
    print("| endpoint | requests | p50 ms | p99 ms | max ms | response bytes |")
    print("|---|---|---|---|---|---|")
    for name, n, p50, p99, worst, size in results:
        print(f"| {name} | {n:,} | {p50:.2f} | {p99:.2f} | {worst:.2f} | {size:,} |")
    p50, p99, worst = percentiles(lags)
    print(f"\nnew log position → long-polling dashboard answered: p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
          f"max {worst:.0f} ms ({len(lags)} events; the API checks the position every 100 ms)")


if __name__ == "__main__":
    main()
