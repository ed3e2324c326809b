"""The Docker engine a profile means when it names none: the environment's, as the docker CLI picks it.

A profile without ``[device] docker_url`` takes, in the docker CLI's order: ``DOCKER_HOST``; else the context that
``DOCKER_CONTEXT`` names, else the current context of the docker config (``docker context use``); else the local
socket. So a CI runner set up with ``DOCKER_HOST=ssh://jetson@orin`` or ``docker context use orin`` needs no
profile edit. TLS material of a context or ``DOCKER_TLS_VERIFY`` is not carried over: such an engine is named in
the profile (``tcp://``) or reached over ``ssh://``.

>>> from_environment({"DOCKER_HOST": "ssh://jetson@orin"})
('ssh://jetson@orin', 'DOCKER_HOST')
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_URL = "unix:///var/run/docker.sock"


class EndpointError(ValueError):
    """The environment names a Docker engine that cannot be used; the message says which setting and why."""


def from_environment(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(engine URL, where it came from) for a profile that names no docker_url."""
    env = os.environ if env is None else env
    if env.get("DOCKER_HOST"):
        return env["DOCKER_HOST"], "DOCKER_HOST"
    from docker.context import ContextAPI
    from docker.context.config import get_current_context_name

    name, where = env.get("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
    if not name:
        name, where = get_current_context_name(), "the docker config's current context"
    if not name or name == "default":
        return DEFAULT_URL, "the default socket"
    context = ContextAPI.get_context(name)
    if context is None:
        raise EndpointError(f"docker context {name!r} ({where}) does not exist; see `docker context ls`")
    if context.TLSConfig is not None:
        raise EndpointError(
            f"docker context {name!r} ({where}) uses TLS certificates, which the suite does not carry over; set the "
            "profile's [device] docker_url (ssh://user@host reaches the engine without them)"
        )
    if not context.Host:
        raise EndpointError(f"docker context {name!r} ({where}) names no Docker endpoint")
    return context.Host, f"docker context {name}"
