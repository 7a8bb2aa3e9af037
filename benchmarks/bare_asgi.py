"""What the bare apps (``bare_app.py``, ``bare_batch_app.py``) share: the least an ASGI
app does around a pipeline call. The body is read whole, ``work`` turns it into the
answer in one worker thread (the model kept off the event loop, as every server here
does), and the answer is sent. No routing, guards, error handling or monitoring; any
method but POST is a 405.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_EXECUTOR = ThreadPoolExecutor(1, thread_name_prefix="predict")


async def answer(
    scope: dict[str, Any],
    receive: Any,
    send: Any,
    work: Callable[[bytes], bytes],
    headers: list[tuple[bytes, bytes]],
) -> None:
    if scope["type"] != "http":  # lifespan: nothing to set up
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    if scope["method"] != "POST":
        await send({"type": "http.response.start", "status": 405, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    loop = asyncio.get_running_loop()
    content = await loop.run_in_executor(_EXECUTOR, work, b"".join(chunks))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": content})
