"""How big one piece of work may be (one C call each: orjson and pydantic-core hold the GIL throughout)."""

BIG_BODY = 256 * 1024  # bodies from this size on are parsed, validated and encoded in pieces, in a thread
SMALL = 64 * 1024  # a sub-document this small goes to orjson in one call
PIECE = 1 << 20  # bytes of one long string decoded or encoded per call
BATCH = 2000  # list items validated per call
SLICE = 256  # items freed per step when a tree is dismantled
GC_PAUSE_LIMIT = 300.0  # seconds; a collector pause nobody ended (a path that forgot) ends by itself
