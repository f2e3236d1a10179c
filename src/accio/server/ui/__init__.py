"""The web UI: runs, sweeps, plots and workflows, served by the same FastAPI app as the API.

Stack, chosen for long-term value and no build step:

* **Server-rendered Jinja2 templates.** Pages are plain HTML from the data the Python API
  already returns; they work without JavaScript (forms post, links navigate) and are tested
  with an HTTP client. Jinja2 is the FastAPI/Starlette default and has been stable for 15 years.
* **htmx** (one 50 kB file, 0BSD) for partial updates: the search box, pagination, the live
  progress of a running sweep (polling every second while unfinished), the edit dialog, logs.
  Its behaviour is declared in ``hx-*`` attributes, so there is no client-side state to keep in
  sync and no bundler, transpiler or ``node_modules`` to maintain.
* **Vega-Lite** (with vega and vega-embed) for plots: a declarative JSON grammar that the server
  fills with pre-aggregated points (means and 95 % intervals computed in
  :mod:`accio.client.figures`, which ``accio plot`` shares); vega-embed gives PNG/SVG export in
  the browser, ``/runs/{id}/figure.{svg,png,pdf}`` the same spec drawn by vl-convert.
* The workflow graph is an SVG laid out server-side (:mod:`accio.server.ui.graph`).

All assets are shipped in ``static/`` (licences in ``static/LICENSES.txt``): the UI works
offline, on a cluster head node or a laptop on a plane. Upgrading a library means replacing
its minified file.

Pages: ``/`` (runs), ``/runs/{id}`` (a run or a sweep, live; kill, delete, re-run in
:mod:`.actions`), ``/compare?runs=A&runs=B`` and ``/datasets/{digest}`` (:mod:`.pages`),
``/workflows``, ``/workflows/{id}``; exports ``/runs/{id}/results.csv`` and ``.parquet``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from accio.client.contract import AccioClient


def install(app: FastAPI, client: AccioClient) -> None:
    """Mount ``/static`` and add the HTML pages of the UI to ``app``."""
    from accio.server.ui.views import make_router

    app.mount("/static", StaticFiles(packages=[("accio.server.ui", "static")]), name="static")
    app.include_router(make_router(client, getattr(app.state, "scheduler_condition", None)))


__all__ = ["install"]
