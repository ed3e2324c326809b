"""jetson_hil.image_base: which L4T release a running image was built FROM, from the engine's local images."""

from __future__ import annotations

from types import SimpleNamespace

from jetson_hil.image_base import running_base


def _image(id_, layers, tags=(), labels=None):
    return SimpleNamespace(id=id_, tags=list(tags), attrs={"RootFS": {"Layers": layers}, "Config": {"Labels": labels}})


def test_the_longest_tagged_prefix_is_the_base():
    app = _image("app", ["a", "b", "c", "d"])
    base = _image("base", ["a", "b"], ["nvcr.io/nvidia/l4t-base:r35.4.1"])
    deeper = _image("pytorch", ["a", "b", "c"], ["nvcr.io/nvidia/l4t-pytorch:r36.2.0-pth2.1-py3"])
    unrelated = _image("other", ["x"], ["nvcr.io/nvidia/l4t-base:r32.7.1"])
    assert running_base(app, [app, base, deeper, unrelated]) == (
        "built FROM nvcr.io/nvidia/l4t-pytorch:r36.2.0-pth2.1-py3",
        "36.2.0",
    )


def test_a_label_naming_l4t_when_no_base_tag_is_left():
    app = _image("app", ["a", "b"], labels={"com.nvidia.l4t.version": "36.4.0", "maintainer": "x"})
    assert running_base(app, [app]) == ("label com.nvidia.l4t.version=36.4.0", "36.4.0")


def test_unknown_when_neither_says():
    app = _image("app", ["a"], labels={"l4t": "not-a-release"})
    assert running_base(app, [app, _image("b", ["a"], ["debian:12"])]) is None
