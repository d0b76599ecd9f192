"""Big request bodies, worked on in small pieces so the event loop keeps answering.

orjson and pydantic-core hold the GIL for the whole of one call: parsing 500k message parts took
300 ms in one `loads`, validating them 2 s in one `model_validate`, so moving those calls to a
thread alone would not help. Here every C call gets a bounded slice of the work (about
:data:`SMALL` bytes of JSON, :data:`BATCH` list items, :data:`PIECE` bytes of one long string),
and the Python between them lets the GIL go back to the event loop; callers run these functions
in a worker thread (`asyncio.to_thread`) for bodies of :data:`BIG_BODY` bytes or more. Results are
the same as orjson's and pydantic's on the whole document: small sub-documents still go through
them in one call each, and big ones are split only where JSON allows it.
"""

from ccgw.bulk.encode import clip, dumps
from ccgw.bulk.memory import GCPause, dismantle, release
from ccgw.bulk.parse import BulkJSONError, loads
from ccgw.bulk.sizes import BIG_BODY, GC_PAUSE_LIMIT
from ccgw.bulk.validate import PieceError, validate

__all__ = [
    "BIG_BODY",
    "GC_PAUSE_LIMIT",
    "BulkJSONError",
    "GCPause",
    "PieceError",
    "clip",
    "dismantle",
    "dumps",
    "loads",
    "release",
    "validate",
]
