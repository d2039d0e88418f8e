"""``imuedge demo-app``: serve the phone app and bundles with the headers it needs.

    imuedge demo-app --bundle reports/default/bundles/onnx-fp32 --bundle reports/default/bundles/tflite-fp32

Every response carries ``Cross-Origin-Opener-Policy: same-origin`` and ``Cross-Origin-Embedder-Policy:
require-corp`` (so the page is cross-origin isolated and the WASM runtimes may use threads) and
``Cross-Origin-Resource-Policy: same-origin``. Bundles are served read-only under ``/bundles/<name>/``
(``/bundles/index.json`` lists them); the page, not the server, checks them, like ``imuedge.load_bundle``.
The motion and Bluetooth APIs need a secure page: ``localhost`` (``adb reverse``) or HTTPS (see README).
"""
from __future__ import annotations

import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from imuedge.manifest import MANIFEST

APP_DIR = Path(__file__).resolve().parent
HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
         ".webmanifest": "application/manifest+json", ".json": "application/json", ".svg": "image/svg+xml",
         ".onnx": "application/octet-stream", ".tflite": "application/octet-stream"}


def bundle_names(folders) -> dict[str, Path]:
    """{name: folder}: each bundle under its folder's name (name-2, name-3... for repeats)."""
    out: dict[str, Path] = {}
    for f in folders:
        f = Path(f)
        if f.is_file():
            f = f.parent
        if not (f / MANIFEST).is_file():
            raise FileNotFoundError(f"{f}: no {MANIFEST} (a bundle is a folder with the model file and {MANIFEST})")
        name, i = f.name, 2
        while name in out:
            name, i = f"{f.name}-{i}", i + 1
        out[name] = f.resolve()
    return out


class Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def __init__(self, *args, bundles: dict[str, Path], **kw):
        self.bundles = bundles
        super().__init__(*args, directory=str(APP_DIR), **kw)

    def end_headers(self):
        for k, v in HEADERS.items():
            self.send_header(k, v)
        super().end_headers()

    def do_GET(self):
        if urlsplit(self.path).path == "/bundles/index.json":
            body = json.dumps(sorted(self.bundles)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def translate_path(self, path):
        parts = unquote(urlsplit(path).path).split("/")
        if len(parts) == 4 and parts[1] == "bundles" and parts[2] in self.bundles:
            folder = self.bundles[parts[2]]
            target = (folder / parts[3]).resolve()
            return str(target) if target.parent == folder else str(folder / ".not-a-bundle-file")
        if len(parts) > 1 and parts[1] == "bundles":
            return str(APP_DIR / ".no-such-bundle")
        return super().translate_path(path)

    def list_directory(self, path):
        self.send_error(404, "no directory listings")
        return None

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)


def make_server(bundles, host: str = "127.0.0.1", port: int = 8000, verbose: bool = False) -> ThreadingHTTPServer:
    """A server (not yet serving) for the app and ``bundles``; port 0 picks a free one."""
    from imuedge.android_demo.install import npm_ci

    npm_ci()
    named = bundle_names(bundles)
    server = ThreadingHTTPServer((host, port), partial(Handler, bundles=named))
    server.verbose = verbose
    server.daemon_threads = True
    return server


def serve_in_thread(bundles, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start serving in a daemon thread; returns (server, base URL). ``server.shutdown()`` stops it."""
    server = make_server(bundles, host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"


def run(args) -> int:
    server = make_server(args.bundle or [], args.host, args.port, verbose=args.verbose)
    host, port = server.server_address[:2]
    names = sorted(server.RequestHandlerClass.keywords["bundles"])
    print(f"imuedge demo-app: http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/ "
          f"(live view), /bench.html (benchmark); bundles: {', '.join(names) or 'none (add --bundle DIR)'}")
    print("  phone over USB: adb reverse tcp:{0} tcp:{0}, then open http://localhost:{0}/ in Chrome "
          "(see android_demo/README.md). Ctrl-C stops.".format(port))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo-app", help="serve the phone app (live view + benchmark) and bundles",
                       description="Serve the phone app (live view, benchmark page) and bundles with the COOP/COEP headers "
                                   "it needs; see android_demo/README.md for the phone side.")
    p.add_argument("--bundle", action="append", metavar="DIR",
                   help="a bundle folder to offer in the app (repeat for several)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for the LAN; see README)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.set_defaults(func=run)
