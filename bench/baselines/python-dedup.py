# Baseline: the Python script a user would write first. Reads the file (NDJSON lines, or a .json
# array with json.load), decodes each event, keys it by the md5 of the six key fields, remembers
# the digests in a set, and prints each unique event as one line, so that the harness counts
# output lines as it does for kion-dedup.
# Numbers go through Decimal and normalize(): the generated retries spell some numeric `r` values
# another way (…0e-1), which plain floats would round, or keep apart from the int spelling.
# repr() of the tuple joins the fields unambiguously (strings are quoted, Decimal is tagged).
# Usage: python3 bench/baselines/python-dedup.py FILE.ndjson|FILE.json > unique.ndjson
import hashlib, json, sys
from decimal import Decimal

KEY = ("client_id", "event_datetime", "event_name", "product_id", "sid", "r")
loads = json.JSONDecoder(parse_float=Decimal).decode  # one decoder: json.loads(s, **kw) builds one a call
norm = lambda v: Decimal(v).normalize() if type(v) in (int, Decimal) else v
path, out, seen = sys.argv[1], sys.stdout.buffer, set()
with open(path, "rb") as f:
    if path.endswith(".json"):  # the array as one document; each unique event printed as one line
        pairs = ((e, None) for e in loads(f.read().decode()))
    else:  # NDJSON: each unique line printed as read
        pairs = ((loads(line.decode()), line) for line in f if line.strip())
    for e, line in pairs:
        digest = hashlib.md5(repr(tuple(norm(e.get(k)) for k in KEY)).encode()).digest()
        if digest not in seen:
            seen.add(digest)
            out.write(line.rstrip(b"\n") + b"\n" if line else json.dumps(e, default=float).encode() + b"\n")
