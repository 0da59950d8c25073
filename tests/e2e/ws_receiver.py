"""A stand-alone WebSocket receiver, like `websocat -s PORT`: prints every
message it gets on stdout, one per line, flushed at once. Killing it (as a
user does with Ctrl-C) drops the connection without a close handshake."""
import asyncio
import sys

import websockets


async def handler(ws, path=None):
    try:
        async for msg in ws:
            sys.stdout.write(msg if isinstance(msg, str) else msg.decode("utf-8", "replace"))
            sys.stdout.write("\n")
            sys.stdout.flush()
    except websockets.ConnectionClosed:
        pass


async def main(port):
    async with websockets.serve(handler, "127.0.0.1", port):
        sys.stderr.write("listening\n")
        sys.stderr.flush()
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
