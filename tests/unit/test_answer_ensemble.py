"""The export's ensemble graph: one ONNX file whose outputs are the mean of its members'."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from export_answer_model import merge_members  # noqa: E402


def tiny_reader(path: Path, scale: float) -> None:
    """A graph with the answer model's inputs and outputs; its weights share names with every
    other tiny reader's, as two exports of the real model do."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(int(scale * 10))
    weights = numpy_helper.from_array((rng.standard_normal((4, 2)) * scale).astype(np.float32), "W")
    nodes = [
        helper.make_node("MatMul", ["inputs_embeds", "W"], ["both"]),
        helper.make_node("Split", ["both"], ["start3", "end3"], axis=-1, num_outputs=2),
        helper.make_node("Squeeze", ["start3", "axes"], ["start_logits"]),
        helper.make_node("Squeeze", ["end3", "axes"], ["end_logits"]),
        helper.make_node("ReduceMax", ["start_logits", "axes"], ["answer_logit"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("inputs_embeds", TensorProto.FLOAT, ["batch", "seq", 4]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("start_logits", TensorProto.FLOAT, ["batch", "seq"]),
         helper.make_tensor_value_info("end_logits", TensorProto.FLOAT, ["batch", "seq"]),
         helper.make_tensor_value_info("answer_logit", TensorProto.FLOAT, ["batch"])],
        initializer=[weights, numpy_helper.from_array(np.array([-1], dtype=np.int64), "axes")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(path))


def run(path: Path, feed: dict) -> list[np.ndarray]:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)


def test_the_merged_graph_gives_the_mean_of_its_members_logits(tmp_path):
    members = [tmp_path / "a.onnx", tmp_path / "b.onnx"]
    tiny_reader(members[0], 1.0)
    tiny_reader(members[1], 3.0)
    merge_members(members, tmp_path / "ensemble.onnx")
    feed = {"inputs_embeds": np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32),
            "attention_mask": np.ones((2, 5), dtype=np.int64), "token_type_ids": np.zeros((2, 5), dtype=np.int64)}
    a, b, merged = run(members[0], feed), run(members[1], feed), run(tmp_path / "ensemble.onnx", feed)
    assert not np.allclose(a[0], b[0])  # the members differ, so the mean is a real test
    for x, y, m in zip(a, b, merged, strict=True):
        np.testing.assert_allclose(m, (x + y) / 2, rtol=1e-6, atol=1e-6)
