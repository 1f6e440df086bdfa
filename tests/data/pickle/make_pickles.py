# Writes the protocol 2 and 3 pickle fixtures and the JSON they must decode to (plain CPython 3.11, no numpy).
import pickle, json, math, collections, pickletools, sys

shared = [1, 2, 3]
def payload():
    return {
        "source": {"data": {"patient_id": "p-001", "long": "x" * 300, "big": 2**80, "neg": -70000,
                            "nested": {"data": [shared, shared], "t": (1, (2.5, "a"), ())},
                            7: "int key", 2.5: "float key", False: "bool key", None: "none key"}},
        "extra": {"data": collections.OrderedDict([("z", 1), ("a", 2)])},
        "spatial": {"spacing": [2.5, 0.8, 0.8], "origin": None, "axis_labels": ["spatial_z", "spatial_y", "spatial_x"],
                    "direction": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]},
        "stats": {"min": float("nan"), "max": float("inf"), "mean": -float("inf"), "median": 1e-05},
        "bbox": {"bboxes": [[[i, i + 1]] for i in range(1200)], "scores": None, "labels": None},
        "is_seg": {"is_seg": True},
        "_has_array": {"has_array": False},
        "_mlarray_version": "v0",
    }

def plain(v):
    if isinstance(v, float):
        if math.isnan(v): return "NaN"
        if math.isinf(v): return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, (list, tuple)): return [plain(x) for x in v]
    if isinstance(v, dict): return {k: plain(x) for k, x in v.items()}
    return v

for proto in (2, 3):
    data = pickle.dumps(payload(), protocol=proto)
    open(f"meta_protocol{proto}.pickle", "wb").write(data)
    ops = sorted({op.name for op, _, _ in pickletools.genops(data)})
    print(proto, len(data), " ".join(ops))
# json.dumps renders the non-str keys as "7", "2.5", "false", "null"
open("meta_expected.json", "w").write(json.dumps(plain(payload()), indent=None) + "\n")
