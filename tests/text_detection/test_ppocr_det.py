"""The PP-OCRv4 detector (``ppocr_det``): conversion, pre- and post-processing against RapidOCR,
fine-tuning, zero-shot accuracy on real receipts, and the error when its packages are missing."""

from __future__ import annotations

import sys

import lightning as L
import numpy as np
import pytest
import torch

from trainlab.engine.checkpoint import load_module
from trainlab.tasks.text_detection.data.datamodule import TextDetectionDataModule
from trainlab.tasks.text_detection.data.dataset import read_image, resize_for_eval
from trainlab.tasks.text_detection.data.transforms import target_size
from trainlab.tasks.text_detection.losses.db_loss import DBLoss
from trainlab.tasks.text_detection.metrics.icdar2015 import evaluate_dataset, iou_matrix
from trainlab.tasks.text_detection.models import ppocr_convert
from trainlab.tasks.text_detection.models.ppocr_convert import (
    PPOCRUnavailableError,
    convert_ppocr_det,
    fuse_elementwise,
    ppocr_det_onnx_path,
)
from trainlab.tasks.text_detection.models.registry import (
    architecture_family,
    build_detector,
)
from trainlab.tasks.text_detection.module import TextDetectionModule
from trainlab.tasks.text_detection.postprocess.db_postprocess import (
    DBPostprocessConfig,
    db_postprocess,
)

ort = pytest.importorskip("onnxruntime")
rapidocr_det = pytest.importorskip("rapidocr_onnxruntime.ch_ppocr_det.utils")
rapidocr_img = pytest.importorskip("rapidocr_onnxruntime.utils.process_img")

RAPIDOCR_RESIZE = {"mode": "min_side_limit", "size": 736, "max_side": 2000}
RAPIDOCR_POSTPROCESS = {"thresh": 0.3, "box_thresh": 0.5, "unclip_ratio": 1.6, "min_size": 3, "dilation": True}
PADDLE_MEAN, PADDLE_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
RECEIPT = "X00016469670"  # 894 x 463 px: enlarged to 1408 x 736 by both pipelines


@pytest.fixture(scope="module")
def detector():
    return build_detector("ppocr_det").eval()


@pytest.fixture(scope="module")
def receipt(mini_root):
    return read_image(mini_root / "images" / "test" / f"{RECEIPT}.jpg")


@pytest.fixture(scope="module")
def receipt_prob_map(detector, receipt):
    with torch.no_grad():
        return detector(torch.from_numpy(resize_for_eval(receipt, RAPIDOCR_RESIZE))[None])["prob_map"][0, 0].numpy()


def test_converted_detector_reproduces_onnx_runtime_on_a_receipt(receipt, receipt_prob_map):
    # The original pipeline: RapidOCR's own resize, PaddleOCR's normalisation of the BGR image, ONNX Runtime.
    preprocess = rapidocr_det.DetPreProcess(736, "min", PADDLE_MEAN, PADDLE_STD)
    session = ort.InferenceSession(str(ppocr_det_onnx_path()), providers=["CPUExecutionProvider"])
    reference = session.run(None, {"x": preprocess(np.ascontiguousarray(receipt[:, :, ::-1]))})[0][0, 0]
    assert reference.shape == receipt_prob_map.shape == (1408, 736)
    difference = np.abs(receipt_prob_map - reference)
    # float32 rounding: ONNX Runtime's own graph-optimisation levels disagree by up to 1.6e-5 on this
    # network, and a float64 run of the converted graph differs from ONNX Runtime by 1.7e-5. Measured
    # here: mean 2.5e-8, max 5.0e-5, 0.06 % of the pixels above 1e-5.
    assert difference.mean() <= 1e-6
    assert difference.max() <= 2e-4
    assert (difference > 1e-5).mean() <= 0.005
    assert ((receipt_prob_map > 0.3) != (reference > 0.3)).sum() <= 5  # the binarised maps agree
    assert 0.05 < (reference > 0.3).mean() < 0.5  # a real text map, not an empty one


def test_fusing_elementwise_operations_keeps_the_function():
    plain = convert_ppocr_det(fuse=False).eval()
    fused = convert_ppocr_det(fuse=False).eval()
    counts = fuse_elementwise(fused)
    assert counts == {"conv_affine": 28, "hardswish": 24, "affine": 24}
    nodes = sum(1 for node in fused.graph.nodes if node.op in ("call_module", "call_function"))
    assert nodes < 0.6 * sum(1 for node in plain.graph.nodes if node.op == "call_module")
    images = torch.randn(1, 3, 160, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(fused(images), plain(images), atol=1e-6, rtol=0)


def test_resize_mode_reproduces_rapidocr(mini_root):
    sizes = [read_image(p).shape[:2] for p in sorted((mini_root / "images" / "test").glob("*.jpg"))]
    sizes += [(3508, 2480), (1528, 1080), (2000, 500), (1999, 735), (735, 1999), (100, 40), (3000, 700)]
    for height, width in sizes:
        image = np.zeros((height, width, 3), dtype=np.uint8)
        if max(height, width) > 2000:
            image = rapidocr_img.reduce_max_side(image, 2000)[0]
        expected = rapidocr_det.DetPreProcess(736, "min").resize(image).shape[:2]
        assert target_size(height, width, **RAPIDOCR_RESIZE) == expected, (height, width)


def test_decoding_agrees_with_rapidocr_postprocess(receipt, receipt_prob_map):
    reference, _ = rapidocr_det.DBPostProcess(0.3, 0.5, 1000, 1.6, "fast", True)(
        receipt_prob_map[None, None], receipt.shape[:2])
    ours = db_postprocess(receipt_prob_map, receipt.shape[:2], DBPostprocessConfig(**RAPIDOCR_POSTPROCESS))
    assert len(ours) == len(reference) > 30
    iou = iou_matrix([box.astype(float) for box in reference], [region.points for region in ours])
    # Remaining difference: RapidOCR rounds to whole pixels (pyclipper paths, output boxes) and
    # scales without aligning pixel centres. Measured: smallest IoU 0.89, mean 0.96.
    assert iou.max(axis=1).min() >= 0.85 and iou.max(axis=0).min() >= 0.85


def test_dilation_joins_a_one_pixel_gap():
    prob = np.zeros((40, 120), dtype=np.float32)
    prob[10:20, 10:50] = 0.9
    prob[10:20, 51:100] = 0.9  # one background column between the two halves
    config = DBPostprocessConfig(thresh=0.3, box_thresh=0.5, unclip_ratio=1.6, min_size=3)
    assert len(db_postprocess(prob, prob.shape, config)) == 2
    (joined,) = db_postprocess(prob, prob.shape, DBPostprocessConfig(**{**config.to_dict(), "dilation": True}))
    assert joined.points[:, 0].min() < 10 and joined.points[:, 0].max() > 99


def test_gradients_reach_the_parameters(mini_root):
    network = build_detector("ppocr_det").train()
    image = read_image(mini_root / "images" / "train" / "X51005361946.jpg")[:640, :320]
    outputs = network(torch.from_numpy(resize_for_eval(image, {"mode": "long_side", "size": 640}))[None])
    prob = outputs["prob_map"]
    (prob * torch.linspace(0, 1, prob.numel()).view_as(prob)).sum().backward()  # any non-constant weighting
    parameters = dict(network.named_parameters())
    reached = {name for name, p in parameters.items() if p.grad is not None and p.grad.abs().sum() > 0}
    assert len(parameters) == 122 and sum(p.numel() for p in parameters.values()) == 1_171_464
    # The 4 left out are the two 1x1 convs of one squeeze-excitation gate in the neck: its hard
    # sigmoid is saturated (outputs exactly 0 or 1) for every input, so no gradient passes.
    assert len(reached) >= 118, sorted(set(parameters) - reached)


def test_prob_map_only_output_uses_the_prob_term_of_the_db_loss():
    torch.manual_seed(0)
    targets = {"prob_map": (torch.rand(2, 32, 32) > 0.7).float(), "prob_mask": torch.ones(2, 32, 32),
               "thresh_map": torch.rand(2, 32, 32), "thresh_mask": torch.ones(2, 32, 32)}
    losses = DBLoss()({"prob_map": torch.rand(2, 1, 32, 32)}, targets)
    assert set(losses) == {"loss", "loss_prob"}
    assert losses["loss"].item() == pytest.approx(5.0 * losses["loss_prob"].item())


def test_a_few_fine_tuning_steps_lower_the_loss_on_receipts(mini_root, tmp_path):
    torch.manual_seed(0)
    module = TextDetectionModule("ppocr_det", resize=RAPIDOCR_RESIZE, optimizer={"name": "adam", "lr": 3e-4})
    module.configure_model()  # the model options, as Lightning applies them before a fit
    assert architecture_family("ppocr_det") == "db"
    datamodule = TextDetectionDataModule(root=str(mini_root), batch_size=2, image_size=320, resize=RAPIDOCR_RESIZE,
                                         limit_train=2, seed=0)
    datamodule.setup("fit")
    dataset = datamodule.dataset("train")
    items = [dataset[i] for i in range(2)]  # one augmented draw per item: image and targets match
    batch = {k: torch.stack([item[k] for item in items]) for k in ("image", "prob_map", "prob_mask")}
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-4)

    def loss() -> float:
        module.eval()
        with torch.no_grad():
            return module.loss_fn(module(batch["image"]), batch)["loss"].item()

    before = loss()
    module.train()
    for _ in range(4):
        optimizer.zero_grad()
        module.loss_fn(module(batch["image"]), batch)["loss"].backward()
        optimizer.step()
    after = loss()
    assert after < 0.8 * before, (before, after)
    # The fine-tuned weights survive a trainlab checkpoint (weights-only loading).
    path = tmp_path / "ppocr.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "trainlab": {"module": f"{TextDetectionModule.__module__}.TextDetectionModule"}}, path)
    reloaded = load_module(path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(batch["image"])["prob_map"], module.eval()(batch["image"])["prob_map"])


def test_lightning_fit_keeps_the_batch_norm_statistics_with_freeze_norm(mini_root, tmp_path):
    # Lightning neither calls train() at the start of a fit nor after validation (it sets each
    # submodule's flag back directly), so freezing must hold through a real fit, sanity check included.
    torch.manual_seed(0)
    module = TextDetectionModule("ppocr_det", resize=RAPIDOCR_RESIZE, optimizer={"name": "adam", "lr": 1e-3},
                                 tune_postprocess={"enabled": False})
    datamodule = TextDetectionDataModule(root=str(mini_root), batch_size=2, image_size=256, resize=RAPIDOCR_RESIZE,
                                         limit_train=4, seed=0)
    norms = {name: m for name, m in module.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    before = {name: (m.running_mean.clone(), m.running_var.clone(), m.weight.detach().clone()) for name, m in norms.items()}
    assert len(norms) == 3
    trainer = L.Trainer(max_epochs=1, limit_val_batches=1, num_sanity_val_steps=1, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                        accelerator="cpu", devices=1, default_root_dir=str(tmp_path))
    trainer.fit(module, datamodule=datamodule)
    assert trainer.global_step == 2
    for name, m in norms.items():
        mean, var, weight = before[name]
        assert torch.equal(m.running_mean, mean) and torch.equal(m.running_var, var), name
        assert not torch.equal(m.weight.detach(), weight), name  # scale and shift still train


def test_zero_shot_hmean_on_the_embedded_test_receipts(mini_root):
    module = TextDetectionModule("ppocr_det", head={"postprocess": RAPIDOCR_POSTPROCESS}, resize=RAPIDOCR_RESIZE)
    module.eval()
    datamodule = TextDetectionDataModule(root=str(mini_root), resize=RAPIDOCR_RESIZE, cache_images=False)
    datamodule.setup("test")
    samples = []
    for batch in datamodule.eval_dataloader("test"):
        maps = module.predict_maps(batch["image"])[0]
        samples.append((batch["name"][0], batch["regions"][0], module.detect(maps, batch["original_size"][0])))
    result = evaluate_dataset(samples)
    # Measured: precision 0.953, recall 0.963, H-mean 0.958 on the 8 receipts (RapidOCR's settings, untuned).
    assert result.num_images == 8 and result.hmean >= 0.94, result.summary()


def test_settings_of_other_architectures_are_rejected():
    """PP-OCRv4's network is fixed: encoder and neck settings are errors, not silent no-ops."""
    with pytest.raises(ValueError, match="takes no encoder settings; got model.encoder.model_name=resnet18 "
                                         ".*model=text_detection/ppocr_det"):
        build_detector("ppocr_det", encoder={"model_name": "resnet18", "pretrained": False, "checkpoint": None})
    with pytest.raises(ValueError, match="unknown model.neck option\\(s\\) inner_channels for ppocr_det; it takes: none"):
        build_detector("ppocr_det", neck={"inner_channels": 256})
    with pytest.raises(ValueError, match="unknown model.head option\\(s\\) channels for ppocr_det; it takes: freeze_norm, "
                                         "k, threshold_branch"):
        build_detector("ppocr_det", head={"k": 50, "channels": 24})
    # As rebuilt from a checkpoint: the encoder section asks for nothing.
    assert build_detector("ppocr_det", encoder={"pretrained": False, "checkpoint": None}) is not None


def test_missing_packages_give_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx2torch", None)  # makes `import onnx2torch` fail
    with pytest.raises(PPOCRUnavailableError, match=r"needs the package 'onnx2torch'.*pip install 'trainlab\[ppocr\]'"):
        convert_ppocr_det()
    monkeypatch.undo()
    monkeypatch.setattr(ppocr_convert.importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(PPOCRUnavailableError, match=r"'rapidocr-onnxruntime', which is not installed.*trainlab\[ppocr\]"):
        ppocr_det_onnx_path()


def test_threshold_branch_adds_the_whole_db_loss_and_keeps_the_probability_map(mini_root):
    torch.manual_seed(0)
    plain = TextDetectionModule("ppocr_det", resize=RAPIDOCR_RESIZE).net.eval()
    module = TextDetectionModule("ppocr_det", head={"threshold_branch": True}, resize=RAPIDOCR_RESIZE)
    datamodule = TextDetectionDataModule(root=str(mini_root), batch_size=2, image_size=320, resize=RAPIDOCR_RESIZE,
                                         limit_train=2, seed=0)
    datamodule.setup("fit")
    dataset = datamodule.dataset("train")
    items = [dataset[i] for i in range(2)]
    batch = {k: torch.stack([item[k] for item in items])
             for k in ("image", "prob_map", "prob_mask", "thresh_map", "thresh_mask")}
    network = module.net
    # Inference: the pretrained probability map, bit for bit, and nothing else.
    network.eval()
    with torch.no_grad():
        outputs = network(batch["image"])
        assert set(outputs) == {"prob_map"}
        assert torch.equal(outputs["prob_map"], plain(batch["image"])["prob_map"])
    # Training: threshold and approximate binary maps of the input's size, B = sigmoid(k (P - T)).
    network.train()
    outputs = network(batch["image"])
    assert {k: tuple(v.shape) for k, v in outputs.items()} == {k: (2, 1, 320, 320) for k in
                                                              ("prob_map", "thresh_map", "binary_map")}
    torch.testing.assert_close(outputs["binary_map"],
                               torch.sigmoid(50.0 * (outputs["prob_map"] - outputs["thresh_map"])))
    losses = module.loss_fn(outputs, batch)
    assert set(losses) == {"loss", "loss_prob", "loss_binary", "loss_thresh"}
    assert losses["loss"].item() == pytest.approx(5.0 * losses["loss_prob"].item() + losses["loss_binary"].item()
                                                  + 10.0 * losses["loss_thresh"].item(), rel=1e-5)
    losses["loss"].backward()
    branch = dict(network.thresh_branch.named_parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in branch.values()), sorted(branch)
    # The pretrained head's three batch-norms stay frozen; the new branch's two learn their statistics.
    frozen = [m for m in network.network.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    fresh = [m for m in network.thresh_branch.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(frozen) == 3 and not any(m.training for m in frozen)
    assert len(fresh) == 2 and all(m.training and m.num_batches_tracked.item() == 1 for m in fresh)


def test_neck_features_of_a_graph_without_a_db_head_are_an_error():
    graph = torch.fx.symbolic_trace(torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Sigmoid()))
    with pytest.raises(ValueError, match="does not end in a DB head"):
        ppocr_convert.expose_neck_features(graph)
