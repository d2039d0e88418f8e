"""The phone app (a PWA in this folder: index.html, bench.html, src/) and what serves and installs it."""
