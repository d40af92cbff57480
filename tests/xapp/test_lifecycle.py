import asyncio
import socket

from xapp.lifecycle import _bind


def test_rest_connections_are_accepted_with_tcp_nodelay() -> None:
    """Nagle on the REST socket costs ~40 ms per keep-alive request (head and body
    are separate writes); asyncio only disables it when the socket says it is TCP."""
    listener = _bind("127.0.0.1", 0)
    accepted: list[int] = []

    async def main() -> None:
        async def on_connection(reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            accepted.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connection, sock=listener)
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if accepted:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
    assert accepted and accepted[0] != 0
