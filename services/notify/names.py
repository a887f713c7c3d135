"""Hospitals' names as notifications show them, read from this service's hospital view
and kept a short while.

A consent naming 20 hospitals is a notice naming 20 hospitals: reading each name from
the view every time was 20 database reads per consent change, the most of any statement
in a registration burst (notify's CPU per patient 26.6 ms before with them one after
another). A name is display text only: it is kept ``TTL_S`` seconds, and dropped at once
when this process applies that hospital's event (``forget``); a rename applied by
another notify process reaches this one's notices within ``TTL_S``. A hospital not
known yet is not kept (its code is shown, and the next notice looks again).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from services.notify.domain import name_of
from shared.projections import ConsentProjection

TTL_S = 60.0


class HospitalNames:
    def __init__(
        self,
        view: ConsentProjection,
        ttl_s: float = TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.view = view
        self.ttl_s = ttl_s
        self.clock = clock
        self._kept: dict[str, tuple[str, float]] = {}  # code -> (name, until)

    async def of(self, codes: Iterable[str]) -> dict[str, str]:
        """Each code's name (its code when the hospital is not known)."""
        now, names, missing = self.clock(), {}, []
        for code in dict.fromkeys(codes):
            kept = self._kept.get(code)
            if kept is not None and kept[1] > now:
                names[code] = kept[0]
            else:
                missing.append(code)
        if missing:
            views = await self.view.hospitals_of(missing)
            for code in missing:
                state = views.get(code)
                names[code] = name_of(code, state)
                if state is not None:
                    self._kept[code] = (names[code], now + self.ttl_s)
        return names

    async def one(self, code: str | None) -> str:
        """One hospital's name; "-" for none."""
        return (await self.of([code]))[code] if code else name_of(None, None)

    def forget(self, code: str) -> None:
        self._kept.pop(code, None)
