"""THE INSTALL TEST: a fresh virtual environment, a plain ``pip install .``, the README's steps.

It copies the package sources out of the checkout, installs them with no extra into a new
virtual environment (pip fetches the dependencies, from its wheel cache when ``make test``
has already downloaded them), and runs what the README's "Install" and "Use it in your own
service" sections tell a user to run that needs no server: the import, ``mlscope --help``,
``mlscope profile``/``compare`` on the CSV of a small scikit-learn model of its own, the
Python snippets of steps 1 to 3 as written, and the one-line error of a parquet file
without the ``parquet`` extra. The code blocks are read out of README.md, so a README edit
that breaks a plain install fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._servers import REPO, free_port

pytestmark = [pytest.mark.install, pytest.mark.slow, pytest.mark.timeout(600)]

SECTION = "## Use it in your own service"


def readme_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block of the README's "Use it in your own service"."""
    text = (REPO / "README.md").read_text()
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```(\w+)\n(.*?)^```", section, re.M | re.S)


def _copy_sources(dest: Path) -> None:
    """What ``pip install .`` reads, without the checkout's build/ or egg-info leftovers."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(REPO / "exporter", dest / "exporter", ignore=ignore)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("install")
    src = base / "src"
    src.mkdir()
    _copy_sources(src)
    env_dir = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    # --no-compile: byte-compiling the dependencies is half of the install's CPU time, and
    # what the test imports compiles on import anyway.
    # The environment minus what would let the checkout's package leak in (PYTHONPATH=exporter).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    pip = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile",
                          "--disable-pip-version-check", str(src)],
                         capture_output=True, text=True, timeout=480, env=env)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return env_dir


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train.csv / last_week.csv of a logistic regression on scikit-learn's breast cancer data."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    d = tmp_path_factory.mktemp("user")
    data = load_breast_cancer(as_frame=True)
    x, y = data.data, data.target.map({0: "malignant", 1: "benign"})
    model = LogisticRegression(max_iter=5_000).fit(x, y)
    train = x.assign(churned=y, churn_pred=model.predict(x))
    train.to_csv(d / "train.csv", index=False)
    train.to_parquet(d / "train.parquet")  # pyarrow of the test environment, not of the fresh one
    # The same applicants a week later, one feature arriving in another unit: exactly one drifts.
    week = train.copy()
    week["mean radius"] = week["mean radius"] * 2.5
    week.to_csv(d / "last_week.csv", index=False)
    return d


def _run(
    venv: Path, args: list[str], cwd: Path, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120,
                         env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(cwd)})
    assert out.returncode in ok, f"{args}: {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


def _python(venv: Path, code: str, cwd: Path) -> str:
    return _run(venv, [str(venv / "bin" / "python"), "-c", code], cwd).stdout


@pytest.fixture(scope="module")
def blocks() -> Iterator[list[tuple[str, str]]]:
    found = readme_blocks()
    assert [lang for lang, _ in found[:4]] == ["sh", "python", "python", "python"], found
    yield found


def test_plain_install_imports_from_the_venv_without_any_extra(venv: Path, workdir: Path) -> None:
    out = _python(venv, "import importlib.util as u, mlscope; print(mlscope.__file__); "
                  "print([m for m in ('pyarrow', 'sklearn', 'fastapi', 'mypy') if u.find_spec(m)])", workdir)
    where, extras = out.splitlines()
    assert where.startswith(str(venv)) and extras == "[]", out
    helptext = _run(venv, ["mlscope", "--help"], workdir).stdout
    assert all(cmd in helptext for cmd in ("profile", "compare", "serve", "replay", "demo")), helptext


def test_readme_step_one_commands_profile_and_compare(venv: Path, workdir: Path,
                                                      blocks: list[tuple[str, str]]) -> None:
    profile_cmd, compare_cmd = (ln.split("#")[0].split() for ln in blocks[0][1].strip().splitlines())
    out = _run(venv, profile_cmd, workdir).stdout
    assert out.startswith("wrote reference.json: 569 rows, 30 numeric and 0 categorical features"), out
    assert "task classification" in out
    report = _run(venv, compare_cmd, workdir, ok=(3,)).stdout  # one drifted feature fails the CI step
    drifted = [ln.split()[0:2] for ln in report.splitlines() if ln.rstrip().endswith("DRIFT")]
    assert drifted == [["mean", "radius"]], report


def test_parquet_without_its_extra_is_one_line_naming_the_extra(venv: Path, workdir: Path) -> None:
    out = _run(venv, ["mlscope", "profile", "train.parquet", "-o", "p.json"], workdir, ok=(2,))
    assert out.stderr == ("mlscope: error: data file 'train.parquet' is parquet, which needs pyarrow: "
                          "pip install 'mlscope[parquet]' (or convert the file to .csv)\n")


def test_readme_step_one_python_gives_the_same_report(venv: Path, workdir: Path,
                                                      blocks: list[tuple[str, str]]) -> None:
    code = blocks[1][1] + "print(mlscope.compare(profile, last_week_df).to_frame()[['name', 'drifted']]" \
        ".to_json(orient='values'))\n"
    rows = json.loads(_python(venv, code, workdir).strip().splitlines()[-1])
    assert [name for name, drifted in rows if drifted] == ["mean radius"]


# Steps 2 and 3 as written, around a Starlette app, a bare WSGI callable and the user's data;
# the sidecar URL points at a port where nothing listens (no server in this test).
_STEPS_2_3 = '''
import asyncio, wsgiref.util, mlscope, numpy as np, pandas as pd
from types import SimpleNamespace
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

app = Starlette(routes=[Route("/items/{{i}}", lambda r: PlainTextResponse("ok"))])
{asgi_line}
sent = []
async def call_asgi():
    scope = {{"type": "http", "method": "GET", "path": "/items/3", "raw_path": b"/items/3",
             "query_string": b"", "headers": [], "http_version": "1.1", "scheme": "http",
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1), "root_path": ""}}
    async def receive(): return {{"type": "http.request", "body": b"", "more_body": False}}
    async def send(m): sent.append(m)
    await app.build_middleware_stack()(scope, receive, send)
asyncio.run(call_asgi())

def wsgi(environ, start_response):
    start_response("200 OK", [("content-type", "text/plain")])
    return [b"ok"]
app = SimpleNamespace(wsgi_app=wsgi)
{wsgi_line}
env = {{}}
wsgiref.util.setup_testing_defaults(env)
body = b"".join(app.wsgi_app(env, lambda status, headers, exc=None: sent.append(status)))

week = pd.read_csv("last_week.csv")
X, p = week.drop(columns=["churned", "churn_pred"]), week["churn_pred"]
request_ids = ids = [str(i) for i in range(len(week))]
proba, y = np.full((len(week), 2), 0.5), week["churned"]
{step3}
monitor.close()
print(sent[0]["status"], sent[-1], body.decode())
'''


def test_readme_steps_two_and_three_run_as_written(venv: Path, workdir: Path,
                                                   blocks: list[tuple[str, str]]) -> None:
    asgi_line, wsgi_line = (ln.split("#")[0].strip() for ln in blocks[2][1].strip().splitlines())
    step3 = blocks[3][1].replace("http://127.0.0.1:9108", f"http://127.0.0.1:{free_port()}")
    code = _STEPS_2_3.format(asgi_line=asgi_line, wsgi_line=wsgi_line, step3=step3)
    assert _python(venv, code, workdir).strip().splitlines()[-1] == "200 200 OK ok"


def test_readme_step_five_writes_a_configuration_prometheus_and_alertmanager_accept(
    venv: Path, workdir: Path, blocks: list[tuple[str, str]], promtool: str, amtool: str
) -> None:
    # The settings file and the `mlscope config` line as written; what they write must scrape
    # the user's app (not the demo's) and notify through no placeholder secret.
    (workdir / "my-settings.yml").write_text(next(code for lang, code in blocks if lang == "yaml"))
    commands = next(code for lang, code in blocks if lang == "sh" and "mlscope config" in code)
    out = _run(venv, commands.splitlines()[0].split("#")[0].split(), workdir)
    assert "holds a placeholder" not in out.stderr, out.stderr
    assert "app job 'churn-app' at 127.0.0.1:8080" in out.stderr, out.stderr
    mon = workdir / "monitoring"
    _run(venv, [promtool, "check", "config", str(mon / "prometheus" / "prometheus.yml")], workdir)
    _run(venv, [amtool, "check-config", "alertmanager.yml"], mon / "alertmanager")
    assert "127.0.0.1:8000" not in (mon / "prometheus" / "prometheus.yml").read_text()
