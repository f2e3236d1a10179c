"""Soak: a fault campaign against the real scheduler process (``make soak``; not run by CI).

A sweep of ``--children`` small children (``accio.testing`` operators: Number -> Noise, Tally
with a short sleep, RandomTable -> Mean (a Parquet artifact per child), Add) is submitted with ``accio submit`` (which auto-starts the scheduler) in
a temporary home. Then, ``--trials`` times: wait for a random number of finished nodes (kill
points spread over the sweep) and a random moment more, now and then SIGKILL one worker process, SIGKILL the scheduler, note what the database says is finished,
and start the scheduler again (alternately ``accio server start`` and the client's auto-start).
At the end it checks and prints:

* every child succeeded, no node failed (a node re-dispatched after a restart and then hit by a
  worker kill fails if restarts used up its crash retry: none may);
* 0 finished nodes executed again: every node finished at a kill keeps its completion time and
  cache key to the end, and no Tally node committed before a kill wrote to the tally afterwards;
* node attempts (dispatches): total, nodes dispatched more than once, the largest count;
* every artifact verifies (``accio verify``).

::

    python scripts/soak.py                       # 1,000 children, 20 trials
    python scripts/soak.py --children 200 --trials 5 --seed 3

Exit 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accio.client.local import LocalClient
from accio.config import Settings
from accio.engine import daemon
from accio.ops.registry import OperatorRegistry

WORKFLOW: dict[str, Any] = {
    "id": "soak",
    "params": [{"name": "x", "kind": "double"}],
    "graph": [
        {"op": "Number", "name": "Source", "inputs": {"value": {"param": "x"}}},
        {"op": "Noise", "name": "Noisy", "inputs": {"value": {"reference": "Source/value"}}},
        {"op": "Tally", "name": "Count", "inputs": {"value": {"param": "x"}, "duration": "DUR"}},
        {"op": "RandomTable", "name": "Table", "inputs": {"rows": 20}},
        {"op": "Mean", "name": "Avg", "inputs": {"data": {"reference": "Table/data"}}},
        {
            "op": "Add",
            "name": "Total",
            "inputs": {"a": {"reference": "Count/value"}, "b": {"reference": "Noisy/value"}},
        },
        {
            "op": "Add",
            "name": "Result",
            "inputs": {"a": {"reference": "Total/sum"}, "b": {"reference": "Avg/mean"}},
        },
    ],
}


@dataclass
class Campaign:
    """What happened: kills, and what was committed at each kill."""

    scheduler_kills: int = 0
    worker_kills: int = 0
    restarts: Counter[str] = field(default_factory=Counter)
    #: At each kill: (tally length, x of committed Count nodes, {node: (completed, key)})
    snapshots: list[tuple[int, set[float], dict[tuple[str, str], tuple[Any, Any]]]] = field(
        default_factory=list
    )


def accio(args: list[str], env: dict[str, str], timeout: float = 600) -> str:
    """Run the CLI as a user would; its stdout, or SystemExit on failure."""
    done = subprocess.run(
        [sys.executable, "-m", "accio.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"accio {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def descendants(pid: int) -> dict[int, int]:
    """Every process below ``pid``: {pid: parent pid} (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    below: dict[int, int] = {}
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in below:
                below[child] = parent
                frontier.append(child)
    return below


def kill_a_worker(scheduler: int, rng: random.Random) -> bool:
    """SIGKILL one worker: a grandchild of the scheduler (child of its fork server)."""
    below = descendants(scheduler)
    workers = [p for p, parent in below.items() if parent != scheduler]
    if not workers:
        return False
    os.kill(rng.choice(workers), signal.SIGKILL)
    return True


def tally_lines(path: Path) -> list[float]:
    return [float(x) for x in path.read_text().split()] if path.exists() else []


def finished_nodes(client: LocalClient) -> dict[tuple[str, str], tuple[Any, Any]]:
    return {
        (n.run_id, n.name): (n.completed, n.cache_key)
        for n in client.storage.nodes_in_states(["success"])
    }


def wait_for_execution(client: LocalClient, parent: str, timeout: float = 120) -> bool:
    """Until nodes run (True), or the sweep is finished (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if client.storage.nodes_in_states(["running", "queued"]):
            return True
        if client.run(parent).state in ("success", "failed", "killed"):
            return False
        time.sleep(0.05)
    raise SystemExit("the scheduler never started executing")


def finished_count(client: LocalClient, parent: str) -> int:
    """Nodes of the sweep's children that succeeded (children end together: nodes are
    dispatched first come first served, so every child's first nodes run first)."""
    counts = client.child_node_counts(parent)
    return sum(states.get("success", 0) + states.get("cached", 0) for states in counts.values())


def wait_for_nodes(client: LocalClient, parent: str, target: int) -> bool:
    """Until ``target`` nodes succeeded (True), or the sweep is finished (False)."""
    while finished_count(client, parent) < target:
        if client.run(parent).state in ("success", "failed", "killed"):
            return False
        if not daemon.is_running(client.settings.home):
            raise SystemExit("the scheduler stopped on its own")
        time.sleep(0.2)
    return True


def restart(trial: int, env: dict[str, str], client: LocalClient, campaign: Campaign) -> None:
    """Alternately the explicit start and the auto-start that ``accio submit`` uses."""
    if trial % 2 == 0:
        accio(["server", "start", "--http", "127.0.0.1:0", "--idle-timeout", "900"], env)
        campaign.restarts["accio server start"] += 1
    else:
        if not client.start_scheduler():
            raise SystemExit("the auto-started scheduler did not start")
        campaign.restarts["auto-start"] += 1


def run(args: argparse.Namespace, root: Path) -> int:
    rng = random.Random(args.seed)
    home, tally = root / "home", root / "tally.txt"
    env = {
        **os.environ,
        "ACCIO_HOME": str(home),
        "ACCIO_PLUGINS": "accio.testing:operators",
        "ACCIO_TALLY_FILE": str(tally),
        "ACCIO_CPUS": str(args.cpus),
        "ACCIO_SERVER": "",
    }
    # Not a setting: schedulers auto-started from this process need it in its own environment.
    os.environ["ACCIO_TALLY_FILE"] = str(tally)
    workflow = json.loads(json.dumps(WORKFLOW).replace('"DUR"', f'"{args.sleep_ms}.milliseconds"'))
    (root / "soak.json").write_text(json.dumps(workflow))
    xs = {"from": 1, "to": args.children, "step": 1}
    sweep = {"workflow": "soak", "seed": 7, "params": {"x": xs}}
    (root / "sweep.json").write_text(json.dumps(sweep))
    print(f"soak: {args.children} children, {args.trials} trials, home {home}", flush=True)
    started = time.time()
    accio(["push", str(root / "soak.json")], env)
    submitted = json.loads(accio(["submit", str(root / "sweep.json"), "--json"], env))
    parent, children = submitted["run_id"], submitted["child_ids"]
    assert len(children) == args.children, len(children)
    settings = Settings.from_env(env)
    registry = OperatorRegistry.from_entry_points(env=env)
    campaign = Campaign()
    with LocalClient(settings=settings, registry=registry, autostart=False) as client:
        # Kill points spread over the whole sweep: a number of finished nodes, then a
        # random moment (up to --max-delay) later.
        total = args.children * len(WORKFLOW["graph"])
        targets = sorted(int(rng.uniform(0.0, 0.95) * total) for _ in range(args.trials))
        for trial, target in enumerate(targets):
            if not wait_for_execution(client, parent) or not wait_for_nodes(
                client, parent, target
            ):
                print(f"trial {trial + 1}: the sweep finished before the kill", flush=True)
                break
            time.sleep(rng.uniform(0.0, args.max_delay))
            pid = daemon.running_pid(home)
            if pid is None:
                raise SystemExit("no scheduler to kill")
            if rng.random() < args.worker_kill_rate and kill_a_worker(pid, rng):
                campaign.worker_kills += 1
                time.sleep(rng.uniform(0.1, 0.5))
            os.kill(pid, signal.SIGKILL)
            campaign.scheduler_kills += 1
            deadline = time.time() + 30
            while daemon.is_running(home) and time.time() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)  # the workers notice that their parent died
            committed = {
                float(json.loads(client.run(r).params)["x"]["value"])
                for (r, name) in finished_nodes(client)
                if name == "Count" and r != parent
            }
            campaign.snapshots.append((len(tally_lines(tally)), committed, finished_nodes(client)))
            done = finished_count(client, parent)
            print(
                f"trial {trial + 1} ({time.time() - started:.0f} s): SIGKILL at {done}/{total}"
                f" nodes finished (kill point {target}; {campaign.worker_kills} worker kills so"
                " far)",
                flush=True,
            )
            restart(trial, env, client, campaign)
        if not daemon.is_running(home):
            restart(0, env, client, campaign)
        final = client.wait(parent, timeout=args.timeout, poll=0.5)
        accio(["server", "stop"], env)
        return report(args, client, campaign, parent, children, tally, env, final.state, started)


def report(
    args: argparse.Namespace,
    client: LocalClient,
    campaign: Campaign,
    parent: str,
    children: list[str],
    tally: Path,
    env: dict[str, str],
    state: str,
    started: float,
) -> int:
    """Check the invariants, print the figures; 0 if all hold."""
    counts = client.child_counts(parent)
    nodes = [n for rs in client.storage.nodes_of_runs(children).values() for n in rs]
    failed = [n for n in nodes if n.state not in ("success", "cached")]
    final = {(n.run_id, n.name): n for n in nodes}
    rewritten: set[tuple[str, str]] = set()  # finished, then resolved again (from the cache)
    reexecuted: set[tuple[str, str]] = set()  # finished, then executed again
    for _, _, snapshot in campaign.snapshots:
        for node, (completed, key) in snapshot.items():
            now = final.get(node)
            if now is None or (now.completed, now.cache_key) == (completed, key):
                continue
            (rewritten if now.state == "cached" else reexecuted).add(node)
    executions = tally_lines(tally)
    rerun: set[float] = set()
    for length, committed, _ in campaign.snapshots:
        rerun |= committed & set(executions[length:])
    attempts = Counter(n.attempts for n in nodes)
    verify = json.loads(accio(["verify", "--json"], env))
    damaged = {k: verify.get(k) for k in ("damaged", "missing", "affected") if verify.get(k)}
    checks = {
        "all children succeeded": state == "success" and counts.get("success") == len(children),
        "no node failed (no crash retry used up by restarts)": not failed,
        "0 finished nodes re-executed": not reexecuted and not rerun,
        "finished node records kept (not re-resolved on restart)": not rewritten,
        "every child's Count executed": set(executions) == {float(x) for x in children_x(args)},
        "every artifact verifies": not damaged and verify.get("checked", 0) > 0,
    }
    print(f"\nsoak figures ({time.time() - started:.0f} s)")
    print(f"  children: {counts.get('success', 0)}/{len(children)} succeeded ({dict(counts)})")
    print(
        f"  scheduler SIGKILLs: {campaign.scheduler_kills}, worker SIGKILLs: {campaign.worker_kills}"
    )
    print(f"  restarts: {dict(campaign.restarts)}")
    states = Counter(n.state for n in nodes)
    print(f"  nodes: {len(nodes)} {dict(states)}, failed/other: {len(failed)}")
    print(
        f"  finished nodes re-executed: {len(reexecuted)} (record), {len(rerun)} (tally);"
        f" re-resolved from the cache after a restart: {len(rewritten)}"
        f" ({dict(Counter(name for _, name in rewritten))})"
    )
    print(
        f"  Count executions: {len(executions)} for {len(children)} children "
        f"({len(executions) - len(set(executions))} repeats of nodes unfinished at a kill)"
    )
    print(
        f"  node attempts: {sum(n.attempts for n in nodes)} dispatches, "
        f"{sum(v for k, v in attempts.items() if k > 1)} nodes dispatched more than once, "
        f"max {max(attempts) if attempts else 0}, histogram {dict(sorted(attempts.items()))}"
    )
    print(
        f"  accio verify: {verify.get('checked')} artifacts, {verify.get('bytes')} bytes checked,"
        f" damaged {len(verify.get('damaged') or [])}, missing {len(verify.get('missing') or [])}"
    )
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")
    for n in failed[:10]:
        print(f"    {n.run_id[:12]} {n.name}: {n.state} attempts={n.attempts} {n.error}")
    return 0 if all(checks.values()) else 1


def children_x(args: argparse.Namespace) -> range:
    return range(1, args.children + 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="of the kill schedule")
    parser.add_argument("--cpus", type=int, default=2, help="ACCIO_CPUS of the scheduler")
    parser.add_argument("--sleep-ms", type=int, default=50, help="Tally sleep per child")
    parser.add_argument(
        "--max-delay", type=float, default=1.0, help="seconds after a kill point before the kill"
    )
    parser.add_argument("--worker-kill-rate", type=float, default=0.3)
    parser.add_argument("--timeout", type=float, default=1800, help="for the final wait")
    parser.add_argument("--home", default=None, help="a directory to keep (default: temporary)")
    args = parser.parse_args(argv)
    if args.children < 1 or args.trials < 0:
        parser.error("--children must be >= 1 and --trials >= 0")
    root = Path(args.home or tempfile.mkdtemp(prefix="accio-soak-"))
    code = 1
    try:
        code = run(args, root)
        return code
    finally:
        with contextlib.suppress(Exception):  # never leave a scheduler behind
            daemon.stop(root / "home")
        if args.home is None and code == 0:
            shutil.rmtree(root, ignore_errors=True)
        elif code != 0:
            print(f"kept for inspection: {root}")


if __name__ == "__main__":
    sys.exit(main())
