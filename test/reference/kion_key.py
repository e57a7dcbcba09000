#!/usr/bin/env python3
"""Reference implementation of the kion-dedup key digest, for other systems to copy.

Reads JSON events (one per line) on stdin, prints one hex digest per line ("invalid" for a line
that is not UTF-8: kion-dedup rejects such an event).
Key fields and encoding as in README "The key digest": for each field, a tag byte
(s string, n number, t true, f false, z null), a 4-byte big-endian payload length,
then the payload; digest = first 16 bytes of SHA-256 of the concatenation.
"""
import hashlib
import json
import re
import struct
import sys
from decimal import Decimal

FIELDS = ["client_id", "event_datetime", "event_name", "product_id", "sid", "r"]


def canonical_number(text: str) -> str:
    m = re.fullmatch(r"(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?", text)
    sign, whole, frac, exp = m.group(1), m.group(2), m.group(3) or "", int(m.group(4) or "0")
    digits = (whole + frac).lstrip("0")
    if not digits:
        return "0"
    stripped = digits.rstrip("0")
    exp = exp - len(frac) + (len(digits) - len(stripped))
    return sign + stripped + ("" if exp == 0 else "e" + str(exp))


def encode(event: dict) -> bytes:
    out = bytearray()
    for field in FIELDS:
        value = event[field]
        if isinstance(value, bool):
            tag, payload = (b"t" if value else b"f"), b""
        elif value is None:
            tag, payload = b"z", b""
        elif isinstance(value, str):
            # surrogatepass: a lone surrogate from a \u escape keeps its own 3 bytes (WTF-8).
            tag, payload = b"s", value.encode("utf-8", "surrogatepass")
        elif isinstance(value, Decimal):
            tag, payload = b"n", canonical_number(str(value_text[id(value)])).encode()
        else:
            raise ValueError(f"{field}: not a scalar")
        out += tag + struct.pack(">I", len(payload)) + payload
    return bytes(out)


# Numbers are kept as their source text (never through a float), like kion-dedup.
value_text: dict = {}


def keep_text(text: str) -> Decimal:
    d = Decimal(text)
    value_text[id(d)] = text
    return d


# Bytes, not text: an event that is not UTF-8 is no JSON text (RFC 8259 8.1) and has no key;
# decoding it with replacement characters would give different events one key.
for raw in sys.stdin.buffer:
    if raw.strip():
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            print("invalid")
            continue
        value_text.clear()
        event = json.loads(line, parse_float=keep_text, parse_int=keep_text)
        print(hashlib.sha256(encode(event)).digest()[:16].hex())
