"""Validated field types shared by the event catalogue and the states it carries.

A CID, a hospital code and a UTC time are what the hospital wire contract carries
too, so they are defined once, in ``healthlink_adapter.fields``; times are written as
``datetime.isoformat()`` (``+00:00``), as every stored time always was.
"""

from __future__ import annotations

from healthlink_adapter.fields import Cid as Cid
from healthlink_adapter.fields import HCode as HCode
from healthlink_adapter.fields import UtcTime as UtcTime
