"""``trainlab report``: the page of a real sweep, opened in a real headless Chromium.

A sweep trains two tiny runs for real (two epochs each, two learning rates, a small
MobileNetV3 encoder) and fails a third (a negative learning rate); the first run's checkpoint then draws its predictions on a
test receipt into ``<run>/predict/vis/`` with the task's own writer, as ``trainlab predict
hydra.run.dir=<run>/predict`` does. The page is loaded in Debian's ``chromium`` through the
DevTools protocol: no console error or exception, no request but the page itself, every
image decoded, the tables hold the manifests' numbers, and a screenshot is taken.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from trainlab.cli.report import main as report
from trainlab.engine.config import asset_path
from trainlab.workflow.report import SAMPLE_FOLDERS, run_images

from tests.workflow.workflow_helpers import TINY, read_manifest, trainlab

CHROMIUM = Path("/usr/bin/chromium")
# A test receipt 1600 px tall: its drawn predictions are downscaled on the page.
RECEIPT = Path(asset_path("sroie_mini")) / "images" / "test" / "X51005568855.jpg"
FINISHED = ["0_optimizer.lr=0.001", "1_optimizer.lr=0.003"]
FAILED = ["2_optimizer.lr=-1"]
SWEEP = ["train", "-m", "exp_name=report", *[o for o in TINY if not o.startswith("trainer.max_epochs")],
         "trainer.max_epochs=2", "model.encoder.model_name=mobilenetv3_small_050", "optimizer.lr=0.001,0.003,-1"]


class Chromium:
    """Headless Chromium driven over the DevTools protocol (one page, websocket-client)."""

    def __init__(self, profile: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--remote-debugging-port={port}", "--window-size=1300,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import websocket

        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as answer:
                    targets = json.load(answer)
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium exited ({self.process.returncode}) or did not open port {port}")
                time.sleep(0.1)
        page = next(t for t in targets if t["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.events: list[dict] = []
        self.next_id = 0

    def call(self, method: str, **params) -> dict:
        """Send a command and wait for its answer; events that arrive meanwhile are kept."""
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, event: str) -> None:
        while not any(e.get("method") == event for e in self.events):
            self.events.append(json.loads(self.socket.recv()))

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result
        return result["result"]["value"]

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture
def chromium(tmp_path):
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not installed (Debian's chromium package; .ci/run installs it)")
    pytest.importorskip("websocket", reason="websocket-client not installed (pip install -e '.[report]')")
    browser = Chromium(tmp_path / "chromium-profile")
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """The sweep folder: 2 finished runs, a failed one, drawn predictions in the first."""
    work = tmp_path_factory.mktemp("work")
    trainlab(*SWEEP, cwd=work, expect=1)  # the failed job makes the sweep exit 1
    (folder,) = (work / "outputs" / "report").iterdir()
    from trainlab.engine.checkpoint import load_module

    run = folder / FINISHED[0]
    load_module(run / "checkpoints" / "last.ckpt").write_predictions(RECEIPT, run / "predict", {"draw": True})
    return folder


@pytest.mark.slow
def test_the_page_renders_in_chromium_with_the_sweeps_numbers(sweep, tmp_path, chromium):
    page = tmp_path / "report.html"
    assert report([str(sweep), "-o", str(page)]) == 0
    drawn = sweep / FINISHED[0] / "predict" / "vis" / f"{RECEIPT.stem}.jpg"
    assert drawn.is_file()

    chromium.call("Runtime.enable")
    chromium.call("Log.enable")
    chromium.call("Network.enable")
    chromium.call("Page.enable")
    chromium.call("Page.navigate", url=page.as_uri())
    chromium.wait_for("Page.loadEventFired")
    images = chromium.evaluate("Promise.all(Array.from(document.images).map(i => i.decode().then("
                               "() => [i.alt, i.naturalWidth, i.naturalHeight, i.src.slice(0, 15)], "
                               "e => [i.alt, 0, 0, String(e)])))")
    text = chromium.evaluate("document.body.innerText")
    rows = chromium.evaluate("Array.from(document.querySelectorAll('#runs-table tr')).map("
                             "r => Array.from(r.cells).map(c => c.innerText))")
    ablation = chromium.evaluate("Array.from(document.querySelectorAll('#ablation-table tr')).map("
                                 "r => [Array.from(r.cells).map(c => c.innerText), getComputedStyle(r.cells[0]).fontWeight])")
    shot = chromium.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    screenshot = tmp_path / "report.png"
    screenshot.write_bytes(base64.b64decode(shot["data"]))

    methods = [e["method"] for e in chromium.events]
    errors = [e["params"] for e in chromium.events if e["method"] == "Runtime.exceptionThrown"
              or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert "Page.loadEventFired" in methods and errors == []
    requested = [e["params"]["request"]["url"] for e in chromium.events if e["method"] == "Network.requestWillBeSent"]
    assert [u for u in requested if not u.startswith("data:")] == [page.as_uri()]  # self-contained

    # Every image decodes: the three figures, each finished run's training_history.png, the drawn predictions.
    expected = 3 + sum(len(run_images(sweep / name, 8)) for name in FINISHED + FAILED)
    assert len(run_images(sweep / FINISHED[0], 8)) == 2 and expected == 3 + 2 + 1
    assert len(images) == expected and all(width > 0 and height > 0 and src.startswith("data:image/")
                                           for _, width, height, src in images), images
    vis = next(i for i in images if i[0] == f"predict/vis/{RECEIPT.stem}.jpg")
    assert max(vis[1:3]) <= 1280 < max(cv2.imread(str(drawn)).shape[:2])  # large images are downscaled

    # The runs table: one row per run, the manifests' statuses, errors and metrics.
    header, body = rows[0], {row[0]: row for row in rows[1:]}
    assert sorted(body) == sorted(FINISHED + FAILED)
    for name in FINISHED:
        manifest = read_manifest(sweep / name)
        row = dict(zip(header, body[name]))
        assert row["status"] == "finished" and row["epochs"] == "2"
        assert row["optimizer.lr"] == str(manifest["config"]["optimizer"]["lr"])
        assert row["val/hmean"] == f"{manifest['final']['val/hmean']:.4f}"
        assert row["last/train/loss"] == f"{manifest['history'][-1]['train/loss']:.4f}"
    for name in FAILED:
        assert body[name][header.index("status")].startswith("failed\n")
        assert "Invalid learning rate: -1" in body[name][header.index("status")]
    # The ablation table: the two learning rates, best first and in bold.
    finals = {str(m["config"]["optimizer"]["lr"]): m["final"]["val/hmean"] for m in map(read_manifest, (sweep / n for n in FINISHED))}
    order = sorted(finals, key=lambda lr: -finals[lr])  # stable: ties keep the runs' order
    assert ablation[0][0][:2] == ["optimizer.lr", "val/hmean"]
    assert [r[0][:2] for r in ablation[1:]] == [[lr, f"{finals[lr]:.4f}"] for lr in order]
    assert [r[1] for r in ablation[1:]] == ["700", "400"]
    assert "3 runs (2 finished, 1 failed)" in text and "Shared by all 3 runs" in text
    assert read_manifest(sweep / FINISHED[0])["git"]["commit"] in text  # a manifest fact

    picture = cv2.imread(str(screenshot))
    assert picture.shape[1] >= 1200 and picture.shape[0] > 1000 and picture.std() > 10


def test_run_images_follow_the_convention(tmp_path, mini_root):
    """Top-level images first, then samples/ and vis/ folders at any depth; never a nested
    run's images or checkpoints/; at most ``limit``."""
    receipt = sorted((mini_root / "images" / "train").iterdir())[0]
    run = tmp_path / "run"
    for relative in ["training_history.jpg", "predict/vis/a.jpg", "samples/grid.jpg", "samples/deep/b.jpg",
                     "checkpoints/vis/c.jpg", "nested/vis/d.jpg", "other/e.jpg", "notes.txt"]:
        (run / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(receipt, run / relative)
    (run / "nested" / "manifest.json").write_text("{}")
    assert SAMPLE_FOLDERS == ("samples", "vis")
    found = [str(p.relative_to(run)) for p in run_images(run, 8)]
    assert found == ["training_history.jpg", "predict/vis/a.jpg", "samples/deep/b.jpg", "samples/grid.jpg"]
    assert len(run_images(run, 2)) == 2


def test_a_folder_without_runs_is_a_clear_error(tmp_path, capsys):
    assert report([str(tmp_path)]) == 2
    assert "no manifest.json below it" in capsys.readouterr().err
    assert report([str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_large_images_are_downscaled_small_ones_kept_byte_for_byte(tmp_path, mini_root):
    from trainlab.workflow.report import MAX_IMAGE_SIDE, image_uri

    large = max((mini_root / "images" / "train").iterdir(), key=lambda p: max(cv2.imread(str(p)).shape[:2]))
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(large)), (200, 300)))
    assert image_uri(small) == "data:image/png;base64," + base64.b64encode(small.read_bytes()).decode()
    uri = image_uri(large)
    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    assert uri.startswith("data:image/jpeg;base64,") and max(decoded.shape[:2]) == MAX_IMAGE_SIDE
