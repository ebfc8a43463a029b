"""The BEST-Route router in replay: soft labels over every arm (m, n), Algorithm 1 on top."""

from __future__ import annotations

from dataclasses import dataclass, field

from bestroute.evaluate.routers import RouterSettings


@dataclass(frozen=True, slots=True)
class BestRouteSettings:
    """How the BEST-Route router is trained in replay (see :class:`RouterSettings`)."""

    router: RouterSettings = field(default_factory=RouterSettings)
