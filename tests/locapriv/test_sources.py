"""Sources: the original's CSV event format, Parquet, Geolife, Cabspotting and T-Drive layouts."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from accio.ops.api import spec_of
from accio_locapriv.schema import TRACE_SCHEMA, is_sorted
from accio_locapriv.sources import KINDS, EventSource, SourceError, SyntheticSource, read_source


def _times(table: pa.Table) -> list[int]:
    return table.column("time").cast(pa.int64()).to_pylist()


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_csv_directory_with_both_line_layouts(tmp_path: Path, run_op, capsys) -> None:
    _write(tmp_path / "064.csv", "39.9,116.3,2000\n39.8,116.2,1000\n")
    _write(
        tmp_path / "mixed.csv",
        "a,10.0,20.0,5\nb,11.0,21.0,6\n"
        "a,oops,20.0,7\n"  # unparsable latitude
        "a,10.0,20.0\n"  # too few fields
        "a,95.0,20.0,8\n"  # latitude out of range
        "a,10.0,20.0,9.5\n"  # time is not an integer
        "\n"
        "a,10.5,20.5,10\n",
    )
    _write(tmp_path / "notes.txt", "ignored")
    out = run_op(EventSource, {"url": str(tmp_path)})["data"]
    assert out.schema == TRACE_SCHEMA and is_sorted(out)
    assert out.column("id").to_pylist() == ["064", "064", "a", "a", "b"]
    assert _times(out) == [1000, 2000, 5, 10, 6]
    assert out.column("lat").to_pylist()[:2] == [39.8, 39.9]
    log = capsys.readouterr().out
    assert "read 5 event(s) from 2 file(s)" in log
    assert "skipped 4 malformed line(s) in 1 file(s): mixed.csv (4)" in log


def test_file_with_only_bad_lines_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path / "ok.csv", "1.0,2.0,3\n")
    _write(tmp_path / "bad.csv", "x,y\nlat,lng,when\n")
    with pytest.raises(SourceError, match=r"bad\.csv: no valid event"):
        read_source(str(tmp_path))


def test_missing_paths_and_empty_directories(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        read_source(str(tmp_path / "nope"))
    with pytest.raises(SourceError, match=r"no <key>\.csv"):
        read_source(str(tmp_path))
    with pytest.raises(SourceError, match="unknown kind"):
        read_source(str(tmp_path), kind="gpx")


def test_empty_csv_file_gives_no_events(tmp_path: Path) -> None:
    _write(tmp_path / "empty.csv", "")
    assert read_source(str(tmp_path)).num_rows == 0


def test_single_canonical_csv_with_header(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "all.csv",
        "id,time,lat,lng\n"
        "u,2024-01-01T00:00:01Z,1.0,2.0\n"
        "u,1704067200000,1.5,2.5\n"
        "v,2024-01-01 00:00:00.250,3.0,4.0\n"
        "v,soon,3.0,4.0\n",
    )
    out = read_source(str(path))
    assert out.column("id").to_pylist() == ["u", "u", "v"]
    assert _times(out) == [1_704_067_200_000, 1_704_067_201_000, 1_704_067_200_250]


def test_single_headerless_csv_uses_its_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "user7.csv", "1.0,2.0,3\n")
    assert read_source(str(path)).column("id").to_pylist() == ["user7"]


def test_parquet_file_and_home_expansion(tmp_path: Path, monkeypatch, synthetic) -> None:
    events, _ = synthetic
    pq.write_table(events, tmp_path / "events.parquet")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert read_source("~/events.parquet").equals(events)
    assert read_source("~/events.parquet", kind="parquet").equals(events)
    assert read_source(f"file://{tmp_path}/events.parquet").equals(events)


def _plt(rows: list[str]) -> str:
    header = "Geolife trajectory\nWGS 84\nAltitude is in Feet\nReserved 3\n0,2,255,My Track,0,0,2,8421376\n0\n"
    return header + "".join(r + "\n" for r in rows)


def test_geolife_layout(tmp_path: Path, run_op, capsys) -> None:
    data = tmp_path / "Geolife Trajectories 1.3" / "Data"
    _write(
        data / "000" / "Trajectory" / "20081023025304.plt",
        _plt(
            [
                "39.984702,116.318417,0,492,39744.1201851852,2008-10-23,02:53:04",
                "39.984683,116.31845,0,492,39744.1202546296,2008-10-23,02:53:10",
                "39.98,116.31,0,492",  # too few fields
            ]
        ),
    )
    _write(
        data / "000" / "Trajectory" / "20081024020959.plt",
        _plt(["40.008304,116.319876,0,492,39745.0902662037,2008-10-24,02:09:59"]),
    )
    _write(
        data / "001" / "Trajectory" / "20081023055305.plt",
        _plt(
            [
                "39.999844,116.326752,0,492,39744.2452083333,2008-10-23,05:53:05",
                "39.999,116.326,0,492,39744.2,2008-13-45,05:53:06",  # impossible date
            ]
        ),
    )
    _write(data / "001" / "labels.txt", "Start Time\tEnd Time\tTransportation Mode\n")
    out = run_op(EventSource, {"url": str(data.parent), "kind": "geolife"})["data"]
    assert out.column("id").to_pylist() == ["000", "000", "000", "001"]
    assert _times(out) == [1224730384000, 1224730390000, 1224814199000, 1224741185000]
    assert out.column("lat").to_pylist()[0] == 39.984702
    assert "skipped 2 malformed line(s) in 2 file(s)" in capsys.readouterr().out
    # The root may also be the folder holding the users.
    assert read_source(str(data), kind="geolife").equals(out)


def test_cabspotting_layout(tmp_path: Path) -> None:
    _write(
        tmp_path / "new_abboip.txt",
        "37.75134 -122.39488 0 1213084687\n37.75136 -122.39527 0 1213084659\nbroken\n",
    )
    _write(tmp_path / "new_acitva.txt", "37.7 -122.4 1 1213000000\n")
    _write(tmp_path / "_cabs.txt", '<cab id="abboip" updates="2"/>\n')
    out = read_source(str(tmp_path), kind="cabspotting")
    assert out.column("id").to_pylist() == ["abboip", "abboip", "acitva"]
    assert _times(out) == [1213084659000, 1213084687000, 1213000000000]  # oldest first
    assert out.column("lng").to_pylist()[0] == -122.39527


def test_tdrive_layout(tmp_path: Path) -> None:
    _write(
        tmp_path / "taxi_log_2008_by_id" / "1.txt",
        "1,2008-02-02 15:36:08,116.51172,39.92123\n1,2008-02-02 15:46:08,116.51135,39.93883\n",
    )
    _write(
        tmp_path / "taxi_log_2008_by_id" / "2.txt", "2,2008-02-02 13:30:44,116.47191,39.90718\n"
    )
    out = read_source(str(tmp_path), kind="tdrive")
    assert out.column("id").to_pylist() == ["1", "1", "2"]
    # 15:36:08 in Beijing (UTC+8) is 07:36:08 UTC.
    assert _times(out)[0] == 1201937768000
    assert out.column("lat").to_pylist()[0] == 39.92123
    assert out.column("lng").to_pylist()[0] == 116.51172


def test_operator_declarations() -> None:
    spec = spec_of(EventSource)
    assert spec.category == "source" and not spec.unstable
    assert spec.input("kind").choices == KINDS and spec.input("kind").default == "csv"
    synth = spec_of(SyntheticSource)
    assert synth.unstable and [p.name for p in synth.outputs] == ["data", "stays"]
    assert synth.input("center").default.lat == 45.76


def test_synthetic_source_operator(run_op) -> None:
    out = run_op(SyntheticSource, {"users": 3, "days": 2}, seed=5)
    assert out["data"].num_rows == 3 * 2 * 1440
    assert set(out["stays"].column("id").to_pylist()) == {"000", "001", "002"}
    again = run_op(SyntheticSource, {"users": 3, "days": 2}, seed=5)
    assert again["data"].equals(out["data"])


def test_real_geolife_sample(geolife_sample: Path) -> None:
    out = read_source(str(geolife_sample))
    assert out.column("id").unique().to_pylist() == ["064", "092", "148", "180"]
    assert out.num_rows > 200_000 and is_sorted(out)
    assert 39 < float(pc.approximate_median(out.column("lat")).as_py()) < 41  # Beijing
