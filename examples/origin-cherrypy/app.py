"""A minimal CherryPy origin behind keygate: every path answers, once keygate_verify accepts the
request, with JSON naming what it saw (never a secret or a signature).

    python app.py [PORT]            # PORT, or the PORT variable, or 8788; listens on 127.0.0.1

Configuration comes from the environment (see README.md): SHARED_SECRETS or SHARED_SECRET,
REQUIRE_SIGNATURE, SIGNATURE_WINDOW_SECS, SHARED_SECRET_HEADER.
"""

import json
import os
import sys

import cherrypy

import keygate_verify  # noqa: F401  (registers cherrypy.tools.keygate, hardens header reading)


class Origin:
    @cherrypy.expose
    def default(self, *_path, **_params):
        request = cherrypy.request
        cherrypy.response.headers["Content-Type"] = "application/json"
        seen = {
            "consumer_id": request.headers.get("X-Consumer-Id"),
            "key_id": request.headers.get("X-Key-Id"),
            "method": request.method,
            "target": keygate_verify.request_target(request.wsgi_environ),
            "signed": keygate_verify.SIGNATURE_HEADER in request.headers,
            # Whether the static secret came too (SIGNING=hmac sends both, hmac-only not).
            "secret_sent": keygate_verify.Settings.from_env().header in request.headers,
        }
        return json.dumps(seen).encode("utf-8")


def main(argv):
    port = int(argv[1] if len(argv) > 1 else os.environ.get("PORT", "8788"))
    cherrypy.config.update({
        "server.socket_host": "127.0.0.1",
        "server.socket_port": port,
        "engine.autoreload.on": False,
        "checker.on": False,
        "log.screen": True,
        "request.show_tracebacks": False,
    })
    # Every path, "/" included, goes through the tool; settings come from the environment.
    cherrypy.quickstart(Origin(), "/", {"/": {"tools.keygate.on": True}})


if __name__ == "__main__":
    main(sys.argv)
