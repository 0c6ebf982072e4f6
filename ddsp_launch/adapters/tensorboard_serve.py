"""TensorBoard that answers only to this machine's names:
``python -m ddsp_launch.adapters.tensorboard_serve --logdir DIR --host 127.0.0.1 --port N``.

TensorBoard's own server (werkzeug) answers a request whatever its Host header says, so a
web page whose DNS name is rebound to 127.0.0.1 could read it from the user's browser.
This builds the same TensorBoard as the ``tensorboard`` command (its default plugins and
flags) with a server class whose WSGI application first checks the Host header against
the names of common.hosts (400 otherwise). The adapter in tensorboard.py starts it.
"""

from __future__ import annotations

import sys

from ddsp_launch.common import hosts


def host_checked(wsgi_app, names: frozenset[str]):
    """``wsgi_app`` behind a Host check."""
    body = (f"this TensorBoard answers only to {', '.join(sorted(names))}, not to the Host this request names. "
            "Fix: open the address ddsp-launch printed").encode()

    def app(environ, start_response):
        if hosts.is_allowed(environ.get("HTTP_HOST"), names):
            return wsgi_app(environ, start_response)
        start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]

    return app


def main() -> None:
    from absl import app  # noqa: PLC0415 - TensorBoard's own start-up, as its `tensorboard` command does it
    from tensorboard import default, main_lib, program  # noqa: PLC0415

    def server(wsgi_app, flags):
        return program.WerkzeugServer(host_checked(wsgi_app, hosts.allowed_names(flags.host or "localhost")), flags)

    main_lib.global_init()
    board = program.TensorBoard(plugins=default.get_plugins(), server_class=server)
    app.run(board.main, argv=sys.argv, flags_parser=board.configure)


if __name__ == "__main__":
    main()
