"""Behind a reverse proxy: warn when requests arrive without the proxy's X-Forwarded-For."""
import logging

logger = logging.getLogger("kil_network")


class ProxyHeaderCheck:
    """WSGI middleware outside ProxyFix: with PROXY_COUNT > 0 every request should come through
    the proxy, which adds X-Forwarded-For. One that does not reached the app directly, and a
    client reaching it directly can choose its own address (and so its rate-limit bucket) with
    that header. Logs a warning once per process."""

    def __init__(self, wsgi_app, hops: int):
        self.wsgi_app = wsgi_app
        self.hops = hops
        self.warned = False

    def __call__(self, environ, start_response):
        if not self.warned and not environ.get("HTTP_X_FORWARDED_FOR"):
            self.warned = True
            logger.warning(
                "PROXY_COUNT=%s but a request for %s arrived without X-Forwarded-For: the app is reachable "
                "without the proxy (or PROXY_COUNT is wrong). Anyone reaching it directly can choose their "
                "address, and so escape rate limits, by sending X-Forwarded-For. Let only the proxy reach "
                "gunicorn, and set PROXY_COUNT to the number of proxies in front of it (README).",
                self.hops, environ.get("PATH_INFO", "/"))
        return self.wsgi_app(environ, start_response)
