"""simulator.app.serve: the dashboard's server contacts nothing outside the machine.

Unit tests of its environment and command line, then the server itself, started
the way ``serve`` starts it, under an audit hook that records (and refuses) every
connection and name lookup that leaves the machine, with the page and its assets
loaded over HTTP and, where Playwright and chromium are at hand, in a browser.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from simulator.app import serve as serve_mod
from simulator.app.serve import (
    CDN_DISABLED,
    OFFLINE_SETTINGS,
    dashboard_command,
    offline_env,
    serve,
)

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HAVE_SOLARA = importlib.util.find_spec("solara") is not None
needs_solara = pytest.mark.skipif(
    not HAVE_SOLARA, reason="solara is not installed (the mesa[viz] / solara[assets] extra)"
)

# ---------------------------------------------------------------- the environment


def test_offline_env_imposes_the_settings_over_any_spelling():
    base = {
        "PATH": "/usr/bin",
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "True",
        "solara_telemetry_mixpanel_enable": "true",  # Solara matches names case-insensitively
        "Solara_Assets_Proxy": "false",
        "SOLARA_ASSETS_CDN": "https://unpkg.com/",
        "solara_state_backend": "redis",
        "HF_HUB_OFFLINE": "0",
        "SOLARA_THEME_VARIANT": "dark",  # other settings pass through
    }
    before = dict(base)
    env = offline_env(base)
    assert base == before  # not modified
    assert env == {"PATH": "/usr/bin", "SOLARA_THEME_VARIANT": "dark", **OFFLINE_SETTINGS}
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
    assert env["SOLARA_ASSETS_PROXY"] == "True"
    assert env["SOLARA_ASSETS_CDN"] == CDN_DISABLED
    assert env["SOLARA_STATE_BACKEND"] == ""
    assert env["HF_HUB_OFFLINE"] == "1"


def test_offline_env_defaults_to_this_process(monkeypatch):
    monkeypatch.setenv("VF_SERVE_MARKER", "x")
    monkeypatch.setenv("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "true")
    env = offline_env()
    assert env["VF_SERVE_MARKER"] == "x"
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
    assert os.environ["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "true"  # ours is untouched


def test_cdn_is_not_fetchable_without_a_socket():
    """requests refuses the disabled CDN base before it opens a socket."""
    requests = pytest.importorskip("requests")
    assert urllib.parse.urlsplit(CDN_DISABLED).scheme not in ("http", "https")
    with pytest.raises(requests.exceptions.InvalidSchema):
        requests.get(CDN_DISABLED + "some-package@1.0.0/index.js", timeout=1)


@needs_solara
def test_solara_reads_the_settings_as_meant(monkeypatch):
    """The names and values mean what serve.py says, to solara's own settings."""
    import solara.server.settings as server_settings
    import solara.settings

    for name in list(os.environ):
        if name.upper().startswith("SOLARA_"):
            monkeypatch.delenv(name)
    for name, value in offline_env({}).items():
        monkeypatch.setenv(name, value)
    assets = solara.settings.Assets()
    assert assets.proxy is True and assets.cdn == CDN_DISABLED
    assert server_settings.Telemetry().mixpanel_enable is False
    assert server_settings.State().backend == ""


# ---------------------------------------------------------------- the command line


def test_dashboard_command():
    cmd = dashboard_command("127.0.0.1", 8521, False)
    assert cmd[:5] == [sys.executable, "-m", "solara", "run", "simulator.app.dashboard"]
    assert "--production" in cmd and "--no-check-version" in cmd
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "8521"
    assert cmd[-1] == "--no-open"
    assert dashboard_command("localhost", 0, True)[-1] == "--open"
    assert "65535" in dashboard_command("::1", 65535, False)


@needs_solara
def test_solara_accepts_the_command_line():
    """Every option is one `solara run` knows (parsed by its click command, not run)."""
    from solara.__main__ import run

    cmd = dashboard_command("127.0.0.1", 0, False)
    ctx = run.make_context("run", cmd[4:])
    assert ctx.params["check_version"] is False
    assert ctx.params["production"] is True
    assert ctx.params["open"] is False
    assert (ctx.params["host"], ctx.params["port"]) == ("127.0.0.1", 0)
    assert ctx.params["app"] == "simulator.app.dashboard"


@pytest.mark.parametrize("port", [-1, 65536, 100000, "abc", "8080", 1.5, 8080.0, True, False, None])
def test_bad_port(port):
    with pytest.raises(ValueError, match=r"^--port: .*0 to 65535") as err:
        dashboard_command("127.0.0.1", port, False)
    assert "\n" not in str(err.value) and repr(port) in str(err.value)


@pytest.mark.parametrize("host", ["", " ", "a b", "host\t", "local\nhost", None, 127])
def test_bad_host(host):
    with pytest.raises(ValueError, match=r"^--host: ") as err:
        dashboard_command(host, 8521, False)
    assert "\n" not in str(err.value)


def test_bad_input_is_refused_before_anything_runs(monkeypatch):
    def no_popen(*args, **kwargs):
        raise AssertionError("started a process")

    monkeypatch.setattr(subprocess, "Popen", no_popen)
    with pytest.raises(ValueError, match=r"^--port: "):
        serve("127.0.0.1", -1, False)
    with pytest.raises(ValueError, match=r"^--host: "):
        serve("", 8521, False)


# ---------------------------------------------------------------- serve


def test_serve_runs_the_command_offline(monkeypatch):
    """The server's exit status comes back; its environment is offline_env()."""
    checks = " and ".join(f"os.environ.get({k!r}) == {v!r}" for k, v in OFFLINE_SETTINGS.items())
    script = f"import os, sys; sys.exit(7 if {checks} else 3)"
    monkeypatch.setattr(
        serve_mod,
        "dashboard_command",
        lambda host, port, open_browser: [sys.executable, "-c", script],
    )
    monkeypatch.setenv("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "True")
    assert serve("127.0.0.1", 8521, False) == 7


class _Server:
    """A stand-in for the server process: Ctrl-C arrives while serve() waits on it,
    and it exits on the first signal serve() sends it."""

    def __init__(self, cmd, env=None):
        self.signals: list[int] = []
        self.returncode: int | None = None

    def wait(self, timeout=None):
        if timeout is None:
            raise KeyboardInterrupt
        if self.returncode is None:
            raise subprocess.TimeoutExpired("solara", timeout)
        return self.returncode

    def poll(self):
        return self.returncode

    def send_signal(self, sig):
        self.signals.append(sig)
        self.returncode = -sig

    def kill(self):
        self.send_signal(signal.SIGKILL)


def test_ctrl_c_stops_the_server_and_returns_130(monkeypatch):
    started: list[_Server] = []

    def popen(cmd, env=None):
        started.append(_Server(cmd, env))
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", popen)
    assert serve("127.0.0.1", 8521, False) == 130
    assert started[0].signals == [signal.SIGINT]  # it was not gone: asked to stop, once


# ---------------------------------------------------------------- the real server

HOOK = r'''
"""Test hook (tests/simulator/app/test_serve.py): record, then refuse, every
connection and name lookup of this process that leaves the machine."""
import ipaddress
import os
import socket
import sys

_LOG = os.environ["VF_NET_AUDIT_LOG"]
_LOCAL = {"", "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
try:
    _LOCAL.add(socket.gethostname().lower())
except OSError:
    pass
_INET = (socket.AF_INET, socket.AF_INET6)
_LOOKUPS = ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
            "socket.gethostbyaddr")


def _is_local(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in _LOCAL:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False  # a name that is not the machine's own: a DNS lookup
    return ip.is_loopback or ip.is_unspecified


def _hook(event, args):
    if not event.startswith("socket."):
        return
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[-1]
        if getattr(sock, "family", None) not in _INET or not isinstance(address, tuple):
            return
        host = address[0]
    elif event in _LOOKUPS:
        host = args[0]
    elif event == "socket.getnameinfo":
        host = args[0][0]
    else:
        return
    if _is_local(host):
        return
    with open(_LOG, "a") as log:
        log.write(f"{os.getpid()} {event} {host!r}\n")
    raise OSError(f"test_serve: no connections outside the machine ({event} {host!r})")


sys.addaudithook(_hook)
'''

LOADS = {  # tag -> the attributes whose URL the browser loads by itself
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "input": ("src",),
}


class _Loads(HTMLParser):
    """The URLs a page loads by itself (not the links one may click)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []  # (tag, url)
        self.styles: list[str] = []  # where a <link> is a style sheet
        self.scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in LOADS.get(tag, ()):
            value = attrs.get(name)
            if not value:
                continue
            for url in value.split(",") if name == "srcset" else [value]:
                self.urls.append((tag, url.strip().split(" ")[0]))
        if tag == "link" and "stylesheet" in (attrs.get("rel") or "") and attrs.get("href"):
            self.styles.append(attrs["href"])
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])


def _outside(url: str, base: str) -> bool:
    """Whether ``url``, as found on the page at ``base``, leaves the server's host."""
    full = urllib.parse.urlsplit(urllib.parse.urljoin(base, url))
    if full.scheme in ("data", "blob", "about", "javascript"):
        return False
    return full.netloc != urllib.parse.urlsplit(base).netloc


def _css_urls(css: str) -> list[str]:
    found = re.findall(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)", css)
    found += re.findall(r"@import\s+['\"]([^'\"]+)['\"]", css)
    return [u for u in found if not u.startswith("data:")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


class _Dashboard:
    """The dashboard's server, run as serve() runs it, under the audit hook."""

    def __init__(self, proc: subprocess.Popen, url: str, log: Path, out: Path) -> None:
        self.proc, self.url, self.log, self.out = proc, url, log, out

    def stop(self) -> None:
        """Shut the server down cleanly (its shutdown is when telemetry would
        report "Solara server stop"); SIGKILL its process group if it lingers."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything left in its group
        except OSError:
            pass  # the group is gone
        self.proc.wait()

    def outside_attempts(self) -> list[str]:
        return self.log.read_text().splitlines()

    def output(self) -> str:
        return self.out.read_text(errors="replace")[-4000:]


@pytest.fixture
def dashboard(tmp_path):
    if not HAVE_SOLARA:
        pytest.skip("solara is not installed (the mesa[viz] / solara[assets] extra)")
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(HOOK)
    log, out = tmp_path / "outside.log", tmp_path / "server.out"
    log.touch()
    # a caller's environment that, left alone, would turn things on: VS Code (no
    # assets proxy), telemetry and the CDN spelled the way Solara also accepts
    base = {
        **os.environ,
        "VSCODE_PID": "1",
        "solara_telemetry_mixpanel_enable": "true",
        "solara_assets_cdn": "https://cdn.jsdelivr.net/npm/",
    }
    env = offline_env(base)
    env["VF_NET_AUDIT_LOG"] = str(log)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook_dir), env.get("PYTHONPATH")]))
    port = _free_port()
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            dashboard_command("127.0.0.1", port, False), env=env, cwd=ROOT,
            stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = _Dashboard(proc, f"http://127.0.0.1:{port}/", log, out)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _get(server.url, timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the dashboard did not start:\n{server.output()}")
            time.sleep(0.2)
        yield server
    finally:
        server.stop()


def test_the_server_contacts_nothing_outside(dashboard):
    status, body = _get(dashboard.url)
    assert status == 200
    page = body.decode()
    loads = _Loads()
    loads.feed(page)
    # everything the page loads comes from this server: no CDN
    assert loads.scripts and loads.styles
    outside = [(tag, u) for tag, u in loads.urls if _outside(u, dashboard.url)]
    assert not outside, outside
    assert not [u for u in _css_urls(page) if _outside(u, dashboard.url)]
    cdn = re.search(r"solara\.cdn = (\"[^\"]*\")", page)
    assert cdn and not _outside(cdn.group(1).strip('"') + "/x.js", dashboard.url), cdn
    # the scripts and style sheets, and the fonts these ask for, are served here
    for src in loads.scripts + loads.styles:
        status, asset = _get(urllib.parse.urljoin(dashboard.url, src))
        assert status == 200 and asset, src
        if src in loads.styles:
            css_urls = _css_urls(asset.decode(errors="replace"))
            assert not [
                u for u in css_urls if _outside(u, urllib.parse.urljoin(dashboard.url, src))
            ]
            for ref in css_urls[:3]:
                font = urllib.parse.urljoin(urllib.parse.urljoin(dashboard.url, src), ref)
                assert _get(font)[0] == 200, font
    # a front-end file the local copy lacks: 404 here, not fetched from the CDN
    missing = urllib.parse.urljoin(dashboard.url, "_solara/cdn/not-installed@1.0.0/dist/index.js")
    assert _get(missing)[0] == 404
    # shutdown is the last chance to call out (telemetry's "server stop")
    dashboard.stop()
    attempts = dashboard.outside_attempts()
    assert attempts == [], "\n".join([*attempts, "--- the server's output:", dashboard.output()])
    assert "New version of Solara" not in dashboard.output()


def _chromium_or_skip() -> str:
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return CHROMIUM
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium; CI installs it)")


@pytest.mark.slow
def test_the_dashboard_in_a_browser_contacts_nothing_outside(dashboard):
    """The app running (websocket, the market, its figures): neither the browser's
    page nor the server reaches outside the machine."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = _chromium_or_skip()
    refused: list[str] = []

    def route(route):
        if _outside(route.request.url, dashboard.url):
            refused.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, headless=True, args=["--headless", "--no-sandbox"]
        )
        try:
            context = browser.new_context()
            context.route("**/*", route)
            page = context.new_page()
            page.on(
                "websocket",
                lambda ws: refused.append(ws.url) if _outside(ws.url, dashboard.url) else None,
            )
            page.goto(dashboard.url)
            page.get_by_text("No round yet").wait_for(timeout=90_000)
            page.get_by_role("button", name="Step").click()
            page.get_by_text("Round 1 ·").wait_for(timeout=60_000)
            page.locator(".vf-round-plots img").wait_for(timeout=30_000)
        except sync_api.Error as err:
            raise AssertionError(f"{err}\nrefused (outside the machine): {refused}") from None
        finally:
            browser.close()
    dashboard.stop()
    assert refused == []
    attempts = dashboard.outside_attempts()
    assert attempts == [], "\n".join([*attempts, "--- the server's output:", dashboard.output()])
