"""Serve the dashboard (:mod:`simulator.app.dashboard`) so that it contacts nothing
outside the machine.

What the dashboard connects to: the browser to the local Solara server (the page,
its scripts, styles and fonts, and a websocket), and nothing else. Left to its
defaults, ``solara run`` (solara 1.58.2) would also reach out, from the server
process:

* at start, ``https://pypi.org/pypi/solara/json`` for a newer version, before
  the server starts (``solara/__main__.py``: ``_check_version``, lines 76-89, run
  in the main thread at line 313 unless ``--no-check-version``, lines 262-267);
* Mixpanel telemetry, on by default (``solara/server/settings.py`` line 71,
  ``Telemetry.mixpanel_enable = True``): at start ``https://api.ipify.org`` for the
  server's public IP and ``https://api.mixpanel.com/track/`` ("Solara server
  start"), then a daily report and "Solara server stop" at shutdown
  (``solara/server/telemetry.py`` lines 78-131, 149-179; the server starts it
  from ``on_startup``, ``solara/server/starlette.py`` line 690);
* ``https://cdn.jsdelivr.net/npm/`` (``solara/settings.py`` line 46,
  ``Assets.cdn``) for a front-end file missing from the local copy that
  ``solara[assets]`` installs in ``<prefix>/share/solara/cdn`` (the proxy's
  cache misses, ``solara/server/cdn_helper.py`` lines 57-58 and 83-84); and, where
  the assets proxy is off (Solara turns it off by itself under VS Code, Colab and
  Voila, ``solara/settings.py`` lines 41-47, or when it cannot create the cache
  directory, ``solara/server/settings.py`` lines 259-263), the page itself loads
  every script, style sheet and font from that CDN (``solara/server/server.py``
  lines 385-389, ``solara/server/templates/solara.html.j2``).

How that is ensured: :func:`dashboard_command` runs ``solara run`` with
``--production`` (which also keeps out the development-mode "call home" iframe to
solara.dev: ``solara/server/server.py`` line 415, ``solara.html.j2`` line 187) and
``--no-check-version`` (the version check has no setting but this flag);
:func:`offline_env` gives the server process the settings in
:data:`OFFLINE_SETTINGS`, which turn the rest off. :func:`serve` runs the two
together. ``tests/simulator/app/test_serve.py`` starts the server this way under
an audit hook that records every connection and name lookup leaving the machine,
loads the page and its assets (and the running app in chromium, where present),
and checks that there were none and that the page loads nothing from another host.

Not covered here: the browser's own fallback, in Solara's widget manager, to
``https://cdn.jsdelivr.net/npm/`` for a widget module that is neither bundled nor
installed as a notebook extension; the dashboard's widgets (ipywidgets,
ipyvuetify, Mesa's SolaraViz with Matplotlib figures) are all bundled.
"""

from __future__ import annotations

import operator
import os
import signal
import subprocess
import sys
from collections.abc import Mapping

APP = "simulator.app.dashboard"
"""The Solara app the dashboard serves."""

CDN_DISABLED = "file:///nonexistent/solara-cdn-disabled/"
"""Solara's CDN base set to a URL no HTTP client can fetch: a front-end file that
is not in the local copy is answered 404 at once instead of being fetched (requests
refuses a ``file:`` URL before it opens any socket)."""

OFFLINE_SETTINGS: dict[str, str] = {
    # telemetry off: Telemetry.mixpanel_enable (solara/server/settings.py line 71,
    # env prefix "solara_telemetry_" line 77), read by telemetry.track and
    # telemetry.server_start (solara/server/telemetry.py lines 98 and 169); this
    # also skips the api.ipify.org lookup, which only the telemetry thread makes
    # (telemetry.py lines 78-83, 149-153)
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
    # the page loads its assets from this server (/_solara/cdn/...), never from the
    # CDN: Assets.proxy (solara/settings.py line 47, env prefix "solara_assets_"
    # line 50), which Solara otherwise turns off in VS Code, Colab and Voila
    # (solara/settings.py line 42); used in solara/server/server.py lines 385-389
    # and solara/server/starlette.py line 945
    "SOLARA_ASSETS_PROXY": "True",
    # and the proxy never fetches a missing file from the CDN: Assets.cdn
    # (solara/settings.py line 46), the base of cdn_helper.get_cdn_url
    # (solara/server/cdn_helper.py lines 44-46, fetched at lines 58 and 84)
    "SOLARA_ASSETS_CDN": CDN_DISABLED,
    # no state-persistence store (redis, possibly on another host): State.backend
    # (solara/server/settings.py line 135, "" = disabled; env prefix "solara_state_"
    # line 162); off by default, kept off whatever the caller's environment says
    "SOLARA_STATE_BACKEND": "",
    # the Hugging Face hub: no downloads, no telemetry, should anything in the
    # process load a tokenizer or model (huggingface_hub/constants.py)
    "HF_HUB_OFFLINE": "1",
}
"""The environment settings :func:`offline_env` imposes on the server process."""


def offline_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for the dashboard server: ``base`` (default: this process's
    environment) with :data:`OFFLINE_SETTINGS` imposed.

    Solara reads its settings case-insensitively and lets the last matching
    variable win (``solara/minisettings.py`` lines 103-116), so any other spelling
    of these names (``solara_telemetry_mixpanel_enable``) is dropped from ``base``.
    """
    env = dict(os.environ if base is None else base)
    names = {name.upper() for name in OFFLINE_SETTINGS}
    env = {k: v for k, v in env.items() if k.upper() not in names}
    env.update(OFFLINE_SETTINGS)
    return env


def _check_host(host: str) -> str:
    if not isinstance(host, str) or not host or any(c.isspace() for c in host):
        raise ValueError(
            f"--host: give a host name or IP address without spaces (e.g. 127.0.0.1), got {host!r}"
        )
    return host


def _check_port(port: int) -> int:
    try:
        if isinstance(port, bool):
            raise TypeError
        value = operator.index(port)
    except TypeError:
        value = None
    if value is None or not 0 <= value <= 65535:
        raise ValueError(
            f"--port: give an integer from 0 to 65535 (0 = any free port), got {port!r}"
        )
    return value


def dashboard_command(host: str, port: int, open_browser: bool) -> list[str]:
    """The command line that serves the dashboard on ``host:port`` (port 0: any free
    port; Solara prints the one it took), opening a browser tab if ``open_browser``.

    Raises ValueError naming ``--host`` or ``--port`` for an empty host, one with
    spaces, or a port that is not an integer from 0 to 65535.
    """
    host = _check_host(host)
    port = _check_port(port)
    return [
        sys.executable, "-m", "solara", "run", APP, "--production", "--no-check-version",
        "--host", host, "--port", str(port), "--open" if open_browser else "--no-open",
    ]  # fmt: skip


def _stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Stop the server after a Ctrl-C: it got the SIGINT too when it shares our
    terminal; otherwise send it one, then escalate to SIGTERM and SIGKILL."""
    for step in ("wait", signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if step != "wait":
            if proc.poll() is not None:
                return
            proc.send_signal(step)
        try:
            proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def serve(host: str, port: int, open_browser: bool) -> int:
    """Serve the dashboard until it stops or Ctrl-C; returns the server's exit
    status (130 after Ctrl-C). Its environment is :func:`offline_env`."""
    cmd = dashboard_command(host, port, open_browser)
    proc = subprocess.Popen(cmd, env=offline_env())
    try:
        return proc.wait()
    except KeyboardInterrupt:
        try:
            _stop(proc)
        except KeyboardInterrupt:  # a second Ctrl-C: no more waiting
            proc.kill()
            proc.wait()
        return 130
