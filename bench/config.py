"""How much of each workload a run does: `QUICK` (a smoke run under two minutes) or `FULL`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    rounds: int  # ABAB rounds of every sequential workload
    per_round: int  # sequential requests per side per round
    latency_deltas: tuple[int, ...]  # answer length of the non-streaming latency curve
    small_deltas: int  # the "small request" the latency target is read at
    ttft_history: tuple[int, ...]  # earlier messages in the streaming request
    ttft_per_round: int
    ttft_delay: float  # seconds between the fake's events, so the first token arrives alone
    concurrency: tuple[int, ...]
    throughput_seconds: float
    throughput_rounds: int
    throughput_warmup: bool  # one unmeasured second per side and concurrency first
    throughput_max_seconds: float  # a slow proxy at high concurrency gets longer runs, up to this
    stream_deltas: tuple[int, ...]
    peer_stream_max: int  # LiteLLM relays every delta as its own frame: cap its curve
    stream_seconds: float  # at least this long per side per round
    stream_rounds: int
    paced_deltas: int  # deltas per paced stream: every event arrives in its own read, as real tokens do
    paced_gaps: tuple[float, ...]  # seconds between the fake's events
    paced_rounds: int
    memory_levels: tuple[int, ...]
    memory_delay: float  # seconds between the slow stream's events
    sizes: tuple[int, ...]  # request bytes
    size_rounds: int
    size_bytes_per_round: int  # requests per side per round = this / size, at least 2
    profile_seconds: float
    profile_extras: bool  # also an SVG flame graph and a --native profile (for the GC's share)


QUICK = Plan(
    name="quick",
    rounds=3,
    per_round=20,
    latency_deltas=(10, 1000),
    small_deltas=10,
    ttft_history=(0, 30),
    ttft_per_round=8,
    ttft_delay=0.002,
    concurrency=(1, 10, 100),
    throughput_seconds=1.0,
    throughput_rounds=1,
    throughput_warmup=False,
    throughput_max_seconds=3.0,
    stream_deltas=(100, 10_000),
    peer_stream_max=1_000,
    stream_seconds=0.3,
    stream_rounds=2,
    paced_deltas=50,
    paced_gaps=(0.005,),
    paced_rounds=1,
    memory_levels=(10, 100),
    memory_delay=0.05,
    sizes=(1_000, 100_000, 1_000_000),
    size_rounds=2,
    size_bytes_per_round=2_000_000,
    profile_seconds=2.0,
    profile_extras=False,
)

FULL = Plan(
    name="full",
    rounds=7,
    per_round=100,
    latency_deltas=(1, 10, 100, 1000),
    small_deltas=10,
    ttft_history=(0, 10, 100),
    ttft_per_round=60,
    ttft_delay=0.002,
    concurrency=(1, 10, 100, 500),
    throughput_seconds=4.0,
    throughput_rounds=3,
    throughput_warmup=True,
    throughput_max_seconds=12.0,
    stream_deltas=(10, 100, 1000, 10_000, 100_000),
    peer_stream_max=1_000,
    stream_seconds=0.7,
    stream_rounds=5,
    paced_deltas=100,
    paced_gaps=(0.001, 0.005, 0.02),
    paced_rounds=3,
    memory_levels=(10, 100, 1000),
    memory_delay=0.5,
    sizes=(1_000, 10_000, 100_000, 1_000_000, 3_000_000, 10_000_000),
    size_rounds=5,
    size_bytes_per_round=20_000_000,
    profile_seconds=10.0,
    profile_extras=True,
)
