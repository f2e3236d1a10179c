"""The demo workflow (examples/geoind) through the engine: synthetic traces, and the real
Geolife sample from ../shared when it is there."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from accio.client.client import Client
from accio.config import Settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "examples" / "geoind" / "geoind.json"
GEOLIFE = REPO.parent / "shared" / "data" / "geolife-sample"


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from accio_locapriv.synthetic import generate_traces

    events, _ = generate_traces(6, 2, 60_000, 10.0, (45.76, 4.84), seed=11)
    path = tmp_path_factory.mktemp("data") / "traces.parquet"
    pq.write_table(events, path)
    return path


def client_for(home: Path, cpus: int = 2) -> Client:
    env = {**os.environ, "ACCIO_HOME": str(home), "ACCIO_CPUS": str(cpus)}
    return Client(settings=Settings.from_env(env), autostart=False)


def outputs(client: Client, run_id: str, node: str) -> dict[str, Any]:
    return {
        k: v["value"] for k, v in json.loads(client.node(run_id, node).outputs or "{}").items()
    }


def test_epsilon_sweep_trades_privacy_for_utility(tmp_path: Path, traces: Path) -> None:
    with client_for(tmp_path / "home") as client:
        client.push(WORKFLOW)
        sub = client.submit(
            {
                "workflow": "geoind",
                "seed": 5,
                "repeat": 2,
                "params": {
                    "url": str(traces),
                    "kind": "parquet",
                    "epsilon": {"values": [0.001, 0.1]},
                },
            }
        )
        client.execute("local", timeout=600)
        assert client.run(sub.run_id).state == "success"
        table = client.results(sub.run_id).to_pandas()
        by_eps = table.groupby("epsilon")
        fscore = by_eps["Retrieval/meanFscore"].mean()
        distortion = by_eps["Distortion/meanDistortion"].mean()
        coverage = by_eps["Coverage/meanFscore"].mean()
        assert fscore[0.1] > fscore[0.001]
        assert coverage[0.1] > coverage[0.001]
        # planar Laplace: mean displacement 2/epsilon metres; distortion to the trace is below it
        assert 50 < distortion[0.001] < 2 / 0.001
        assert distortion[0.1] < distortion[0.001] / 20
        # the source and the 4-hour split ran once for the whole sweep
        executed = [
            n.name
            for c in client.children(sub.run_id)
            for n in client.nodes(c.id)
            if n.state == "success" and n.name in ("Source", "Split", "TrainPois")
        ]
        assert sorted(executed) == ["Source", "Split", "TrainPois"]


def test_noise_is_the_same_whatever_the_number_of_processes(tmp_path: Path, traces: Path) -> None:
    run = {"workflow": "geoind", "seed": 99, "params": {"url": str(traces), "kind": "parquet"}}
    digests = []
    for cpus in (1, 2):
        with client_for(tmp_path / f"home{cpus}", cpus) as client:
            client.push(WORKFLOW)
            sub = client.submit(run)
            client.execute("local", timeout=600)
            assert client.run(sub.run_id).state == "success"
            digests.append(outputs(client, sub.run_id, "Noisy")["data"])
    assert digests[0] == digests[1]


@pytest.mark.skipif(not GEOLIFE.is_dir(), reason="../shared/data/geolife-sample is not present")
def test_geolife_sample(tmp_path: Path) -> None:
    with client_for(tmp_path / "home") as client:
        client.push(WORKFLOW)
        sub = client.submit(
            {"workflow": "geoind", "seed": 1, "params": {"url": str(GEOLIFE), "epsilon": 0.01}}
        )
        client.execute("local", timeout=900)
        assert client.run(sub.run_id).state == "success"
        source = outputs(client, sub.run_id, "Source")["data"]
        table = client.runtime.artifacts.get_table(source)
        assert table.num_rows > 200_000
        assert set(table.column("id").to_pylist()) == {"064", "092", "148", "180"}
        retrieval = outputs(client, sub.run_id, "Retrieval")
        assert 0.0 <= retrieval["meanFscore"] <= 1.0
        assert outputs(client, sub.run_id, "Distortion")["meanDistortion"] > 0
