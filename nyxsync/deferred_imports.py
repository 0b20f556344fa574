"""Installed apps whose package body is run at its first use, not at Django's setup.

django-eventstream's `__init__` imports its views, request parsing and GRIP publishing (jwt,
cryptography, gripcontrol, pubcontrol, requests: about a fifth of a command's start), though
Django only needs its models and migrations, which import none of that. `defer_package_body`
puts the package in sys.modules with its path but without running its body: submodules
(`django_eventstream.models`, `.views`) import as usual, and the first name asked of the
package itself (`from django_eventstream import get_current_event_id`) runs the body then.
(importlib.util.LazyLoader cannot do this: any attribute read runs the body, and importing a
submodule reads the package's `__path__`.)
"""

from __future__ import annotations

import importlib.util
import sys
import threading

_lock = threading.Lock()


def defer_package_body(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not an installed package")
    module = importlib.util.module_from_spec(spec)  # its name, path and spec; the body not run

    def run_body_then_get(attribute: str):
        with _lock:  # two threads asking at once run the body once
            if "__getattr__" in module.__dict__:
                del module.__dict__["__getattr__"]
                spec.loader.exec_module(module)
        return getattr(module, attribute)

    module.__getattr__ = run_body_then_get
    sys.modules[name] = module
