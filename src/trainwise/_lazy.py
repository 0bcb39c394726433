"""Lazy re-exports for package ``__init__`` modules (PEP 562).

``import trainwise`` (and ``trainwise.data``, ``trainwise.report``) costs milliseconds: each public name
is imported on first use, so torch loads only when something that needs it is touched. The CLI relies
on this: ``trainwise --help``, ``diagnose`` and ``evaluate`` never import torch.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Collection, Mapping
from typing import Any


class _Package(types.ModuleType):
    """A package whose exported function shares its name with a submodule (``trainwise.compare``, the
    function, and ``trainwise/compare.py``): importing the submodule must not replace the function, as
    it could not when every name was imported eagerly."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in self.__dict__.get("_functions_named_like_modules", ()):
            return
        super().__setattr__(name, value)


def lazy_exports(package: str, exports: Mapping[str, str], *,
                 keep: Collection[str] = ()) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``. ``exports`` maps each public name to the module
    that defines it; a name mapped to ``f"{package}.{name}"`` is that submodule itself, unless it is in
    ``keep``: functions (or classes) named like the submodule that defines them (see :class:`_Package`)."""
    module = sys.modules[package]
    if keep:
        module.__class__ = _Package
        module._functions_named_like_modules = frozenset(keep)

    def __getattr__(name: str) -> Any:
        source = exports.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        loaded = importlib.import_module(source)
        value = loaded if source == f"{package}.{name}" and name not in keep else getattr(loaded, name)
        setattr(module, name, value)            # found directly from now on
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(exports))

    return __getattr__, __dir__
