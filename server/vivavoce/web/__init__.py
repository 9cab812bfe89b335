"""The browser side of vivavoce: the language server over WebSocket, and a chat page.

    access.py  who may connect: a per-start token, an Origin allow-list, loopback only
    ws.py      JSON-RPC over WebSocket (one message per text frame), guarded by access.py
    page.py    ``vivavoce web``: the ``<vivavoce-chat>`` page and the WebSocket on one
               loopback port, and the browser opened on it
    cli.py     the arguments and runners the ``vivavoce`` command wires in

The language server itself is :func:`vivavoce.lsp.server.make_server`, unchanged: every
connection gets a fresh one, exactly as an editor's stdio session would. Nothing is imported
here: ``vivavoce.web.cli`` stays cheap for the ``vivavoce`` command's argument parsing.
"""
