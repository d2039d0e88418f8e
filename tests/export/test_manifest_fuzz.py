"""Property: whatever an edited manifest holds, load_bundle returns a working predictor or raises
BundleError -- never another exception, a hang, or a predictor that answers with non-finite values."""
from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imuedge
from imuedge.export import BundleError

JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                    max_leaves=8)


# free-form records the loader does not read (the whole object may be edited, not its insides): edits
# land on the fields a prediction depends on, where only the schema check stands between them and a model
OPAQUE = {("parity",), ("provenance",), ("backend",), ("quantization",), ("fingerprint", "probe")}


def paths(obj, prefix=()):
    """Every key path of a JSON object (lists by index), not descending into the OPAQUE records."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            if prefix + (k,) in OPAQUE:
                continue
            yield from paths(v, prefix + (k,))
    elif isinstance(obj, list) and len(obj) < 16:
        for i, v in enumerate(obj):
            yield prefix + (i,)
            yield from paths(v, prefix + (i,))


@pytest.fixture(scope="module")
def original(exported):
    folder = exported["out"] / "onnx-fp32"
    return folder, json.loads((folder / "imuedge.json").read_text())


@settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_edited_manifest_loads_checked_or_is_refused(original, tmp_path_factory, data):
    folder, manifest = original
    m = copy.deepcopy(manifest)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(list(paths(m)) or [("schema",)]))
        parent = m
        for k in where[:-1]:
            parent = parent[k]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(where[-1], None)
        else:
            parent[where[-1]] = data.draw(JSON)
    dst = tmp_path_factory.mktemp("b")
    shutil.copy(folder / "model.onnx", dst / "model.onnx")
    (dst / "imuedge.json").write_text(json.dumps(m))
    verify = data.draw(st.booleans())  # verify=False skips the hash and fingerprint, never the schema
    try:
        predictor = imuedge.load_bundle(dst, verify=verify)
    except BundleError as e:
        assert "\n" not in str(e)
        return
    x = np.zeros((len(predictor.channels), predictor.samples), np.float32)
    x[2] = 9.8
    assert np.isfinite(predictor.predict(x)).all()
