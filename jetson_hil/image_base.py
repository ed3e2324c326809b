"""The L4T release a running image was built for, found from the engine's local images (Task 4).

Works on docker-py `Image` objects (or anything with `id`, `tags` and `attrs` as `docker image inspect` gives them).
"""

from __future__ import annotations

from typing import Any

from jetson_hil import l4t


def running_base(image: Any, images: Any) -> tuple[str, str] | None:
    """(how it was found, L4T release) of the image a running image was built FROM.

    The base is the local image with an L4T release in a tag whose layers are the longest proper prefix of
    the running image's layers; failing that (the base tag was re-pulled since), a label of the image whose
    key names l4t and whose value is a release (labels are inherited from the base)."""
    layers = image.attrs.get("RootFS", {}).get("Layers") or []
    best: tuple[int, str, str] | None = None
    for other in images:
        if other.id == image.id:
            continue
        other_layers = other.attrs.get("RootFS", {}).get("Layers") or []
        if not other_layers or len(other_layers) >= len(layers) or layers[: len(other_layers)] != other_layers:
            continue
        for tag in other.tags:
            try:
                ref = l4t.parse_image_ref(tag)
            except l4t.ParseError:
                continue
            if ref.l4t is not None and (best is None or len(other_layers) > best[0]):
                best = (len(other_layers), f"built FROM {tag}", str(ref.l4t))
    if best is not None:
        return best[1], best[2]
    for key, value in sorted((image.attrs.get("Config", {}).get("Labels") or {}).items()):
        if "l4t" in key.lower():
            try:
                return f"label {key}={value}", str(l4t.parse_version(value))
            except l4t.ParseError:
                continue
    return None
