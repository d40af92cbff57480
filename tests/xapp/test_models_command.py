"""``linkadapt models`` against servers that do not answer as a linkadapt service does."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import TOKEN

from linkadapt.cli import main

PLAIN_BODY = "Internal Server Error\n\nsomething broke upstream\n"


def _plain_text_handler(status: int) -> type[BaseHTTPRequestHandler]:
    class PlainText(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            body = PLAIN_BODY.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _reply

        def log_message(self, format: str, *args: object) -> None:
            pass

    return PlainText


@pytest.fixture
def plain_text_server() -> Iterator[Callable[[int], str]]:
    """Start tiny HTTP servers that answer everything with plain text and ``status``."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _plain_text_handler(status))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [500, 200])
def test_a_reply_that_is_not_json_is_one_error_line(plain_text_server, capsys,
                                                    status: int) -> None:
    url = plain_text_server(status)
    assert main(["models", "--url", url, "list"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert f"HTTP {status} from {url}/v1/models" in err
    assert "Internal Server Error something broke upstream" in err


def test_an_unreachable_url_is_named(capsys) -> None:
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        assert main(["models", "--url", url, "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"linkadapt models: cannot reach {url}/v1/models: ")
    assert "Connection refused" in err


def test_a_missing_or_wrong_token_says_how_to_pass_it(start_service, tmp_path: Path,
                                                      monkeypatch, capsys) -> None:
    running = start_service()
    monkeypatch.delenv("LINKADAPT_ADMIN_TOKEN", raising=False)
    assert main(["models", "--url", running.http, "list"]) == 1
    assert "pass --token-file FILE or set LINKADAPT_ADMIN_TOKEN" in capsys.readouterr().err

    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-" + TOKEN)
    assert main(["models", "--url", running.http, "--token-file", str(wrong), "list"]) == 1
    assert f"refused the token from --token-file {wrong}" in capsys.readouterr().err

    monkeypatch.setenv("LINKADAPT_ADMIN_TOKEN", "not-" + TOKEN)
    assert main(["models", "--url", running.http, "list"]) == 1
    assert "refused the token from LINKADAPT_ADMIN_TOKEN" in capsys.readouterr().err

    monkeypatch.setenv("LINKADAPT_ADMIN_TOKEN", TOKEN)
    assert main(["models", "--url", running.http, "list"]) == 0
    assert "token" not in capsys.readouterr().err
