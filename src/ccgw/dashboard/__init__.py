"""The usage dashboard: `index.html`, one self-contained page (inline CSS and JS) served verbatim at `GET /dashboard`.

The page reads `GET /usage` and `GET /usage/recent` from its own origin every five seconds. When they answer
401 it asks for the local key, keeps it in the browser's localStorage and sends it as a Bearer header; the key
never goes into a URL. Its own Content-Security-Policy (a `<meta>` tag) forbids any other network access.
"""
