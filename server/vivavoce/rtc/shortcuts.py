"""The switch of this package's audio shortcuts (:mod:`.opus`, :mod:`.clock`, the
:class:`~vivavoce.rtc.tracks.Resampler`'s silence): ``VIVAVOCE_RTC_SHORTCUTS=0`` leaves aiortc's
own audio path, so that the ``callcpu`` benchmark measures both side by side. Read when a
call starts (``prepare_aiortc``) or a resampler is made, not at import."""

from __future__ import annotations

import os

SWITCH = "VIVAVOCE_RTC_SHORTCUTS"


def enabled() -> bool:
    return os.environ.get(SWITCH, "1") != "0"
