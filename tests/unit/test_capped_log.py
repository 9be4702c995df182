"""``CappedLog``: a job's ``run.log`` keeps ``cap`` bytes of output, then one marker line."""

from __future__ import annotations

import random
from pathlib import Path

from quantdesk.jobs.sandbox.handle import CappedLog, LiveLog

MARKER = (
    b"\n[log truncated at 0 MB (BACKTEST_LOG_MB); further output is discarded, the job goes on]\n"
)


def _write(path: Path, cap: int, chunks: list[bytes]) -> CappedLog:
    log = CappedLog(path, cap)
    for chunk in chunks:
        log.write(chunk)
    log.close()
    return log


def test_the_marker_follows_the_cap_reached_inside_a_write(tmp_path: Path) -> None:
    log = _write(tmp_path / "run.log", 10, [b"0123456", b"789abcdef"])
    assert (tmp_path / "run.log").read_bytes() == b"0123456789" + MARKER
    assert (log.written, log.dropped, log.truncated) == (10, 6, True)


def test_the_marker_follows_the_cap_reached_exactly_at_the_end_of_a_write(
    tmp_path: Path,
) -> None:
    """Regression: a write that filled the cap exactly left no room for later ones to see,
    and the marker was never written."""
    log = _write(tmp_path / "run.log", 10, [b"01234", b"56789", b"more", b"", b"and more"])
    assert (tmp_path / "run.log").read_bytes() == b"0123456789" + MARKER
    assert (log.written, log.dropped) == (10, 12)


def test_no_marker_when_nothing_was_dropped(tmp_path: Path) -> None:
    log = _write(tmp_path / "run.log", 10, [b"01234", b"56789", b""])
    assert (tmp_path / "run.log").read_bytes() == b"0123456789"
    assert (log.written, log.dropped, log.truncated) == (10, 0, False)


def test_any_split_of_the_output_gives_the_same_file(tmp_path: Path) -> None:
    rng = random.Random(7)
    output = bytes(rng.randrange(256) for _ in range(300))
    for case in range(200):
        cap = rng.randrange(1, 320)
        cuts = sorted(rng.sample(range(1, len(output)), rng.randrange(0, 12)))
        if case % 4 == 0:
            cuts = sorted({*cuts, min(cap, len(output) - 1)})  # one write ends at the cap
        chunks = [output[a:b] for a, b in zip([0, *cuts], [*cuts, len(output)], strict=True)]
        path = tmp_path / f"{case}.log"
        _write(path, cap, chunks)
        expected = output[:cap] + (MARKER if len(output) > cap else b"")
        assert path.read_bytes() == expected, (cap, cuts)


def test_the_live_copy_keeps_only_what_the_file_kept(tmp_path: Path) -> None:
    log = LiveLog(tmp_path / "run.log", 12)
    log.write(b"line one\n")
    log.write(b"two\n")  # 13 bytes so far: its newline is the first one dropped
    log.write(b"three\n")
    assert log.take_lines() == ["line one"]
    log.close()
    assert (tmp_path / "run.log").read_bytes() == b"line one\ntwo" + MARKER
