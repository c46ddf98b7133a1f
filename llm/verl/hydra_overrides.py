"""Values in Hydra's command-line override grammar (``key=value``), for verl's ``main_ppo``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def hydra_value(value: Any) -> str:
    """``value`` in Hydra's override grammar: ``true``, ``null``, ``0.28``, ``inf``, ``"entropy/mean"``, ``[a,b]``;
    an interpolation (``${data.train_batch_size}``) as it is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value if value.startswith("${") else json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    raise ValueError(f"cannot write {value!r} as a Hydra override value")


def flatten(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The leaves of the nested mapping ``values`` under dotted keys: ``{"a": {"b": 1}}`` -> ``{"<prefix>.a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(flatten(f"{prefix}.{key}", value))
        else:
            flat[f"{prefix}.{key}"] = value
    return flat
