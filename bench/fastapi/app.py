"""The seed's own stack, as the yardstick for `serve --backend redis` (bench/serve-goals.ts, goal b).

FastAPI + uvicorn + redis-py: POST /event takes one JSON event, keys it by the md5 of its six key
fields and asks Redis `SET key 1 NX EX 604800` (a 7-day window): set, it is unique; else a duplicate.
Run with 2 uvicorn workers: `uvicorn app:app --app-dir bench/fastapi --workers 2 --port PORT`;
REDIS_URL names the Redis. It writes no output file: one SET per request is the whole job.
"""
import hashlib
import json
import os

import redis.asyncio as redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

FIELDS = ("client_id", "event_datetime", "event_name", "product_id", "sid", "r")
WINDOW_S = 604800
PREFIX = os.environ.get("KEY_PREFIX", "seed:")

app = FastAPI()
store = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


@app.get("/health")
async def health():
    return {"status": "ok"}


@app.post("/event")
async def event(request: Request):
    try:
        ev = json.loads(await request.body())
    except ValueError as e:
        return JSONResponse({"error": f"invalid JSON: {e}"}, status_code=400)
    if not isinstance(ev, dict) or any(f not in ev for f in FIELDS):
        return JSONResponse({"error": "not an event: a key field is missing"}, status_code=422)
    key = hashlib.md5("\x1f".join(str(ev[f]) for f in FIELDS).encode()).hexdigest()
    new = await store.set(PREFIX + key, 1, nx=True, ex=WINDOW_S)
    return {"status": "unique" if new else "duplicate", "key": key}
