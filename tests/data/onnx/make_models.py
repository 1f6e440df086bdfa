#!/usr/bin/env python3
"""Builds the tiny ONNX models of tests/data/onnx by hand with onnx.helper (no training, no downloaded weights).

Run with Debian's python3-onnx (onnx 1.12, opset 17):  /usr/bin/python3 tests/data/onnx/make_models.py
The weights are fixed formulas (below) so the tests can compute the same functions independently in C#.
"""
import os
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = [helper.make_opsetid("", 17)]


def conv3_weights(cout, cin):
    # w[o, c, i, j, k] = ((o*7 + c*5 + i*9 + j*3 + k) % 5 - 2) / 4   (values -0.5 .. 0.5)
    w = np.zeros((cout, cin, 3, 3, 3), dtype=np.float32)
    for o in range(cout):
        for c in range(cin):
            for i in range(3):
                for j in range(3):
                    for k in range(3):
                        w[o, c, i, j, k] = ((o * 7 + c * 5 + i * 9 + j * 3 + k) % 5 - 2) / 4
    return w


def two_class_logits(nodes, y, out):
    # logits = concat(-y, y) along channels: class 1 wins exactly where y > 0
    nodes.append(helper.make_node("Neg", [y], ["neg"]))
    nodes.append(helper.make_node("Concat", ["neg", y], [out], axis=1))


def save(name, nodes, inputs, outputs, inits, props=None):
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="MLArray.NET tests/data/onnx/make_models.py")
    model.ir_version = 8
    if props:
        helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, name + ".onnx"))


def dyn(name, channels):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", channels, "d", "h", "w"])


# 1. seg_pointwise: y = 2x - 3 (1x1x1 conv), two-class logits -> class 1 where x > 1.5
nodes = [helper.make_node("Conv", ["image", "W", "B"], ["y"], kernel_shape=[1, 1, 1])]
two_class_logits(nodes, "y", "logits")
save("seg_pointwise", nodes, [dyn("image", 1)], [dyn("logits", 2)],
     [numpy_helper.from_array(np.full((1, 1, 1, 1, 1), 2.0, np.float32), "W"),
      numpy_helper.from_array(np.array([-3.0], np.float32), "B")])

# 2. seg_conv3: y = conv3x3x3(x, conv3_weights(1,1), zero padding 1) - 0.5, two-class logits; metadata asks for
#    z-score normalisation (mean 1, std 2) and a default patch of 16^3
nodes = [helper.make_node("Conv", ["image", "W", "B"], ["y"], kernel_shape=[3, 3, 3], pads=[1, 1, 1, 1, 1, 1])]
two_class_logits(nodes, "y", "logits")
save("seg_conv3", nodes, [dyn("image", 1)], [dyn("logits", 2)],
     [numpy_helper.from_array(conv3_weights(1, 1), "W"), numpy_helper.from_array(np.array([-0.5], np.float32), "B")],
     {"mlarray.normalization": "zscore", "mlarray.mean": "1", "mlarray.std": "2", "mlarray.patch_size": "16,16,16",
      "mlarray.output": "segmentation"})

# 3. reg_conv3_2ch: regression, 2 input channels -> 1 output: conv3x3x3(x, conv3_weights(1,2), pad 1) + 0.25
nodes = [helper.make_node("Conv", ["image", "W", "B"], ["value"], kernel_shape=[3, 3, 3], pads=[1, 1, 1, 1, 1, 1])]
save("reg_conv3_2ch", nodes, [dyn("image", 2)], [dyn("value", 1)],
     [numpy_helper.from_array(conv3_weights(1, 2), "W"), numpy_helper.from_array(np.array([0.25], np.float32), "B")],
     {"mlarray.output": "regression"})

# 4. fixed_pointwise: seg_pointwise with a fixed input shape [2, 1, 8, 12, 10] (batch 2, patch taken from the model)
nodes = [helper.make_node("Conv", ["image", "W", "B"], ["y"], kernel_shape=[1, 1, 1])]
two_class_logits(nodes, "y", "logits")
save("fixed_pointwise", nodes,
     [helper.make_tensor_value_info("image", TensorProto.FLOAT, [2, 1, 8, 12, 10])],
     [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [2, 2, 8, 12, 10])],
     [numpy_helper.from_array(np.full((1, 1, 1, 1, 1), 2.0, np.float32), "W"),
      numpy_helper.from_array(np.array([-3.0], np.float32), "B")])

# 5. int_output: a model whose output is int64 (labels), which sliding-window blending cannot use
nodes = [helper.make_node("Cast", ["image"], ["labels"], to=TensorProto.INT64)]
save("int_output", nodes, [dyn("image", 1)],
     [helper.make_tensor_value_info("labels", TensorProto.INT64, ["batch", 1, "d", "h", "w"])], [])
print("wrote", sorted(f for f in os.listdir(HERE) if f.endswith(".onnx")))
