"""Child callbacks for the sampled calls: one router run, one child run per sampled call.

LangChain hands ``_generate`` the router run's manager, but calls ``_stream`` without it (from
``stream``/``astream`` and from the streaming branch of ``invoke``). :class:`ChatBestRoute`
therefore records the child callback manager in a context variable before LangChain calls
``_stream``; :func:`current_children` reads it back.

Children never receive :class:`~langchain_core.callbacks.UsageMetadataCallbackHandler`: the
router's own run reports the usage summed over every sample, and counting the children as well
would bill each token twice. Children are tagged ``nostream`` so that LangGraph's message
stream shows the router's output, not every candidate's.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from langchain_core.callbacks import (
    BaseCallbackHandler,
    CallbackManager,
    UsageMetadataCallbackHandler,
)
from langchain_core.runnables import RunnableConfig, ensure_config

#: Tags every sampled call's run carries (``nostream``: LangGraph leaves it out of its stream).
SAMPLE_TAGS = ("bestroute:sample", "nostream")


@dataclass(frozen=True, slots=True)
class _Children:
    owner: int
    manager: CallbackManager | None


_CHILDREN: contextvars.ContextVar[_Children | None] = contextvars.ContextVar(
    "bestroute_langchain_children", default=None
)


def child_manager(
    run_id: UUID,
    handlers: Sequence[BaseCallbackHandler],
    tags: Sequence[str],
    metadata: Mapping[str, Any],
) -> CallbackManager:
    """The callback manager of the router run's children (what ``get_child`` would give)."""
    manager = CallbackManager(handlers=[], parent_run_id=run_id)
    manager.set_handlers(
        [handler for handler in handlers if not isinstance(handler, UsageMetadataCallbackHandler)]
    )
    manager.add_tags(list(tags))
    manager.add_tags(list(SAMPLE_TAGS), inherit=False)
    manager.add_metadata({k: v for k, v in metadata.items() if not k.startswith("ls_")})
    return manager


def children_of(run_manager: Any) -> CallbackManager | None:
    """Child callbacks of a LangChain run manager (sync or async); ``None`` without one."""
    if run_manager is None:
        return None
    return child_manager(
        run_manager.run_id,
        run_manager.inheritable_handlers,
        run_manager.inheritable_tags,
        run_manager.inheritable_metadata,
    )


def stream_config(
    model: Any, config: RunnableConfig | None
) -> tuple[RunnableConfig, CallbackManager]:
    """Fix the router run's id and callbacks before ``stream`` starts it; return its children.

    The returned config carries the configured callback manager, so LangChain's own configure
    step reuses the very same handlers (one tracer instance for the parent and its children).
    """
    config = ensure_config(config)
    manager = CallbackManager.configure(
        config.get("callbacks"),
        model.callbacks,
        model.verbose,
        config.get("tags"),
        model.tags,
        config.get("metadata"),
        model.metadata,
    )
    run_id = config.get("run_id") or uuid4()
    children = child_manager(
        run_id, manager.inheritable_handlers, manager.inheritable_tags, manager.inheritable_metadata
    )
    return {**config, "callbacks": manager, "run_id": run_id}, children


@contextlib.contextmanager
def children_for(owner: object, manager: CallbackManager | None) -> Iterator[None]:
    """Make ``manager`` the children's callbacks of ``owner``'s ``_stream`` in this context."""
    token = _CHILDREN.set(_Children(id(owner), manager))
    try:
        yield
    finally:
        _reset(_CHILDREN, token)


def current_children(owner: object) -> CallbackManager | None:
    """The children's callbacks recorded for ``owner`` by :func:`children_for`, if any."""
    recorded = _CHILDREN.get()
    return recorded.manager if recorded is not None and recorded.owner == id(owner) else None


@contextlib.contextmanager
def usage_hooks_hidden() -> Iterator[None]:
    """Hide usage handlers installed by ``get_usage_metadata_callback()`` from child runs.

    That context manager adds its handler to every run configured in its context through a
    configure hook; for the duration of a sampled call the hook's variable is cleared.
    """
    try:
        from langchain_core.tracers.context import _configure_hooks
    except ImportError:  # pragma: no cover - a langchain-core without configure hooks
        yield
        return
    tokens = [
        (var, var.set(None))
        for var, _inheritable, _cls, _env in _configure_hooks
        if isinstance(var.get(), UsageMetadataCallbackHandler)
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            _reset(var, token)


def _reset(var: contextvars.ContextVar[Any], token: contextvars.Token[Any]) -> None:
    # A generator closed from another context cannot reset its token; nothing leaked there.
    with contextlib.suppress(ValueError):
        var.reset(token)
