#!/usr/bin/env python3
"""Derives the legacy layout schemas (spec §6) from ../mlarray-meta.schema.json.

Each legacy schema models one stored layout era as typed records (namespace MLArray.Metadata.Legacy.<Era>) for the
typed migration chain (src/MLArray/Metadata/Migration/TypedMigration.cs). They check structure and types only: the
semantic rules (dimensions, lengths, shapes, exclusivity, order) are the current schema's and are checked after the
migration. Run from the repository root: python3 schema/legacy/make_legacy_schemas.py [OUT_DIR]  (default: next to this script)
"""
import copy, json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
CURRENT = json.load(open(os.path.join(HERE, "..", "mlarray-meta.schema.json"), encoding="utf-8"))
SEMANTIC = {"x-dimensions", "x-length", "x-equals", "x-shape", "x-exclusive-with", "x-same-length-as", "x-ordered",
            "x-severity", "x-messages", "minItems", "maxItems", "minimum", "exclusiveMinimum", "maximum"}


def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in SEMANTIC}
    if isinstance(node, list):
        return [strip(x) for x in node]
    return node


def rename_prop(props, old, new, csharp):
    out = {}
    for k, v in props.items():
        if k == old:
            v = dict(v)
            v["x-csharp-name"] = csharp
            out[new] = v
        else:
            out[k] = v
    props.clear()
    props.update(out)


def insert_after(props, after, key, value):
    out = {}
    for k, v in props.items():
        out[k] = v
        if k == after:
            out[key] = value
    props.clear()
    props.update(out)


def drop(props, *keys):
    for k in keys:
        del props[k]


# (era, releases, description of the change from the next newer era)
ERAS = [
    ("V0050", "v0.0.50-v0.0.53", "gzip(pickle) with _FrozenList/_FrozenDict globals; no spatial.coord_system"),
    ("V0049", "v0.0.49", "gzip(pickle) with plain containers; same records as v0.0.50"),
    ("V0048", "v0.0.48", "msgpack map; no spatial.affine"),
    ("V0042", "v0.0.42-v0.0.47", "msgpack map; no blosc2.cparams/dparams"),
    ("V0035", "v0.0.35-v0.0.41", "msgpack map; blosc2 stored as _blosc2"),
    ("V0034", "v0.0.34", "msgpack map; spatial.channel_axis instead of axis_labels/axis_units/_num_*"),
    ("V0033", "v0.0.33", "msgpack map; source stored as original"),
    ("V0031", "v0.0.31-v0.0.32", "msgpack map; no bbox.scores/labels"),
    ("V0028", "v0.0.28-v0.0.30", "msgpack map; no stats.percentile_min_key/percentile_max_key"),
    ("V0023Image", "6777f95", "msgpack map; original stored as image{data}"),
    ("V0023", "v0.0.23-v0.0.27", "msgpack map; raw image/extra/single-key values, bbox a raw list of boxes"),
]


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else HERE
    s = strip(copy.deepcopy(CURRENT))
    props, defs = s["properties"], s["$defs"]
    for era, releases, change in ERAS:
        sp = defs["MetaSpatial"]["properties"]
        if era == "V0050":
            drop(sp, "coord_system")
            del defs["CoordSystem"]
        elif era == "V0048":
            drop(sp, "affine")
        elif era == "V0042":
            drop(defs["MetaBlosc2"]["properties"], "cparams", "dparams")
        elif era == "V0035":
            rename_prop(props, "blosc2", "_blosc2", "Blosc2")
        elif era == "V0034":
            drop(sp, "axis_labels", "axis_units", "_num_spatial_axes", "_num_non_spatial_axes")
            del defs["AxisLabel"]
            insert_after(sp, "shape", "channel_axis", {"type": ["integer", "null"], "default": None,
                                                        "description": "Index of the channel axis (negative counts from the end), or None."})
        elif era == "V0033":
            rename_prop(props, "source", "original", "Original")
        elif era == "V0031":
            drop(defs["MetaBbox"]["properties"], "scores", "labels")
        elif era == "V0028":
            drop(defs["MetaStatistics"]["properties"], "percentile_min_key", "percentile_max_key")
        elif era == "V0023Image":
            rename_prop(props, "original", "image", "Image")
        elif era == "V0023":
            bbox_items = defs["MetaBbox"]["properties"]["bboxes"]["items"]
            del defs["MetaBbox"]
            props["bbox"] = {"type": ["array", "null"], "default": None, "items": bbox_items, "x-csharp-name": "Bboxes",
                             "description": "The bounding boxes as a raw list (one [[min, max], ...] per box), or None."}
        out = copy.deepcopy(s)
        out["$id"] = f"https://mlarray.net/schema/mlarray-meta/legacy/{releases.split('-')[0] if releases[0] == 'v' else 'v0.0.28'}"
        if era == "V0023Image":
            out["$id"] = "https://mlarray.net/schema/mlarray-meta/legacy/6777f95/v0.0.28"
        out["title"] = f"MLArray metadata, stored layout {releases} (legacy)"
        out["description"] = (f"The metadata mapping as stored by mlarray {releases} ({change}); spec §6. Generated by "
                              "make_legacy_schemas.py from the current schema: structure and types only, for the typed migration chain.")
        out["x-csharp-namespace"] = f"MLArray.Metadata.Legacy.{era}"
        out["x-csharp-type"] = "LegacyMeta"
        # Migration internals: only MLArray.Metadata's current records are public API.
        out["x-csharp-accessibility"] = "internal"
        ordered = {k: out[k] for k in ["$schema", "$id", "title", "description", "x-csharp-namespace", "x-csharp-type",
                                       "x-csharp-accessibility"] if k in out}
        ordered.update({k: v for k, v in out.items() if k not in ordered})
        with open(os.path.join(out_dir, f"mlarray-meta-{era.lower()}.schema.json"), "w", encoding="utf-8", newline="\n") as f:
            json.dump(ordered, f, indent=2, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
