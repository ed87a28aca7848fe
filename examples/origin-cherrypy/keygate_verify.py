"""Origin-side checks for requests forwarded by the keygate gateway, as a CherryPy tool.

keygate proves that a request came through it in one of two ways:

* the static shared secret in ``X-Shared-Secret`` (or the header named by
  ``SHARED_SECRET_HEADER``), compared in constant time against every accepted secret;
* a v1 request signature in ``X-Keygate-Signature`` (``SIGNING=hmac`` or ``hmac-only`` on the
  gateway): ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` over the method, the request target and
  the identity headers, valid for ``SIGNATURE_WINDOW_SECS`` seconds either side of now.

Answers (``text/plain``; never a secret or a signature):

* no accepted secret configured                        -> 500 ``Server configuration error``
* a signature that is malformed, wrong, outside the window, or a signed header sent twice
                                                       -> 401 ``Invalid signature``
* no signature while ``REQUIRE_SIGNATURE`` is on       -> 401 ``No signature provided``
* no static secret header                              -> 401 ``No secret provided``
  (an empty one is a wrong one)
* a static secret that matches no accepted secret      -> 401 ``Invalid secret``

Use it as ``tools.keygate.on = True`` in CherryPy config (see README.md beside this file), or
decorate a handler with :func:`verified`. Importing this module also installs
:class:`KeygateHeaderReader` as cheroot's header reader, so that repeated headers can be seen
and header names with ``_`` cannot alias the ``-`` names that carry identity.
"""

import hashlib
import hmac
import os
import re
import threading
import time
from functools import wraps

import cherrypy
from cheroot import server as cheroot_server

SIGNATURE_HEADER = "X-Keygate-Signature"
CONSUMER_ID_HEADER = "X-Consumer-Id"
KEY_ID_HEADER = "X-Key-Id"
DEFAULT_SECRET_HEADER = "X-Shared-Secret"
DEFAULT_WINDOW_SECS = 300

CONFIG_ERROR = (500, "Server configuration error")
INVALID_SIGNATURE = (401, "Invalid signature")
NO_SIGNATURE = (401, "No signature provided")
NO_SECRET = (401, "No secret provided")
INVALID_SECRET = (401, "Invalid secret")

# `t=` decimal digits `,v1=` 64 lower-case hex digits, nothing else (no spaces, no newline).
_SIGNATURE = re.compile(r"t=([0-9]+),v1=([0-9a-f]{64})")
# RFC 9110 token characters, for header names.
_TOKEN = re.compile(rb"[!#$%&'*+.^`|~0-9A-Za-z-]+")
# The WSGI environ key under which the header reader lists the names it saw more than once.
# Its header name holds a space, which no accepted client header name can.
_REPEATED_ENV = "HTTP_KEYGATE REPEATED"
_REPEATED_NAME = b"Keygate Repeated"

# `t` must fit in an unsigned 64-bit integer, as in the Rust verifier.
_U64_MAX = 2**64 - 1

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class ConfigError(ValueError):
    """A setting has a value the verifier cannot use; the request gets the 500."""


class Settings:
    """What the verifier accepts. Build it with :meth:`from_env` or :meth:`resolve`."""

    def __init__(self, secrets, require_signature=False, window=DEFAULT_WINDOW_SECS,
                 header=DEFAULT_SECRET_HEADER):
        self.secrets = [s for s in secrets if s]
        self.require_signature = require_signature
        self.window = window
        self.header = header

    def __repr__(self):
        # Never the secrets themselves.
        return (f"Settings(secrets=<{len(self.secrets)}>, require_signature="
                f"{self.require_signature}, window={self.window}, header={self.header!r})")

    @classmethod
    def from_env(cls, env=None):
        """``SHARED_SECRETS`` (comma-separated; falls back to ``SHARED_SECRET``),
        ``REQUIRE_SIGNATURE``, ``SIGNATURE_WINDOW_SECS``, ``SHARED_SECRET_HEADER``."""
        return cls.resolve(env=env)

    @classmethod
    def resolve(cls, secrets=None, require_signature=None, window=None, header=None, env=None):
        """Explicit values (CherryPy tool arguments) win; the environment fills the rest."""
        env = os.environ if env is None else env
        if secrets is None:
            secrets = parse_secrets(env.get("SHARED_SECRETS")) or parse_secrets(
                env.get("SHARED_SECRET"))
        elif isinstance(secrets, str):
            secrets = parse_secrets(secrets)
        else:
            secrets = [str(s).strip() for s in secrets]
        if require_signature is None:
            require_signature = env.get("REQUIRE_SIGNATURE", "")
        if window is None:
            window = env.get("SIGNATURE_WINDOW_SECS", str(DEFAULT_WINDOW_SECS))
        if header is None:
            header = env.get("SHARED_SECRET_HEADER", "").strip() or DEFAULT_SECRET_HEADER
        return cls(secrets, _flag("REQUIRE_SIGNATURE", require_signature),
                   _window(window), _header(header))


def parse_secrets(value):
    """A comma-separated list of secrets, blanks around and between them dropped."""
    if not value:
        return []
    return [s.strip() for s in value.split(",") if s.strip()]


def _flag(name, value):
    if isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{name} must be 1/true/yes/on or 0/false/no/off")


def _window(value):
    if isinstance(value, bool):
        raise ConfigError("SIGNATURE_WINDOW_SECS must be a whole number of seconds")
    if isinstance(value, int):
        n = value
    else:
        v = str(value).strip()
        if not v.isascii() or not v.isdigit():
            raise ConfigError("SIGNATURE_WINDOW_SECS must be a whole number of seconds")
        n = int(v)
    if n < 0:
        raise ConfigError("SIGNATURE_WINDOW_SECS must be a whole number of seconds")
    return n


def _header(value):
    v = str(value).strip()
    if not _TOKEN.fullmatch(v.encode("latin-1", "replace")):
        raise ConfigError("SHARED_SECRET_HEADER must be a header name")
    return v


# ---- the v1 signature ----

def canonical(t, method, target, consumer_id, key_id):
    """The string a v1 signature covers: six fields joined with newlines, no trailing one. A
    missing identity header (None) is signed as empty."""
    return "\n".join(("keygate-v1", str(t), method, target, consumer_id or "", key_id or ""))


def sign(secret, t, method, target, consumer_id="", key_id=""):
    """The ``X-Keygate-Signature`` value the gateway would send (for tests and clients)."""
    return f"t={t},v1={_mac(secret, canonical(t, method, target, consumer_id, key_id))}"


def _bytes(s):
    # Values from the WSGI environ are the wire bytes decoded as ISO-8859-1; a configured
    # secret is text, sent by the gateway as UTF-8 (in practice ASCII).
    return s if isinstance(s, bytes) else s.encode("latin-1")


def _mac(secret, message):
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, _bytes(message), hashlib.sha256).hexdigest()


def _digest(b):
    return hashlib.sha256(b).digest()


def _any_equal(candidates, provided):
    """Compares ``provided`` with every candidate, in constant time, without stopping early."""
    ok = False
    for c in candidates:
        ok |= hmac.compare_digest(c, provided)
    return ok


def check(settings, method, target, header, repeated=(), now=None):
    """Decides a request. ``header(name)`` returns a header's value or None; ``repeated``
    names (case-insensitive) the headers the request carried more than once; ``target`` is the
    path and query exactly as on the request line (None when the server cannot tell).
    Returns None when the request is accepted, else ``(status, message)``."""
    if not settings.secrets:
        return CONFIG_ERROR
    repeated = {r.lower() for r in repeated}
    signature = header(SIGNATURE_HEADER)
    if signature is not None:
        if repeated & {SIGNATURE_HEADER.lower(), CONSUMER_ID_HEADER.lower(),
                       KEY_ID_HEADER.lower()}:
            return INVALID_SIGNATURE
        m = _SIGNATURE.fullmatch(signature)
        if m is None or target is None:
            return INVALID_SIGNATURE
        t_digits, v1 = m.groups()
        t = int(t_digits)
        now = int(time.time()) if now is None else now
        if t > _U64_MAX or abs(now - t) > settings.window:
            return INVALID_SIGNATURE
        message = canonical(t_digits, method, target, header(CONSUMER_ID_HEADER) or "",
                            header(KEY_ID_HEADER) or "")
        expected = [_mac(s, message).encode("ascii") for s in settings.secrets]
        if not _any_equal(expected, v1.encode("ascii")):
            return INVALID_SIGNATURE
        return None
    if settings.require_signature:
        return NO_SIGNATURE
    provided = header(settings.header)
    if provided is None:
        return NO_SECRET
    if settings.header.lower() in repeated:
        return INVALID_SECRET
    # Digests, so that neither a secret's value nor its length shows in the timing.
    accepted = [_digest(s.encode("utf-8")) for s in settings.secrets]
    if not _any_equal(accepted, _digest(_bytes(provided))):
        return INVALID_SECRET
    return None


# ---- CherryPy ----

def request_target(environ):
    """Path and query exactly as on the request line, percent-encoding untouched: cheroot's
    ``REQUEST_URI`` (gunicorn's ``RAW_URI``). An absolute-form target keeps its path and
    query. None when the server gives neither (signatures then never verify)."""
    target = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not target:
        return None
    if target.startswith("/") or target == "*":
        return target
    m = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", target)
    if m is None:
        return target
    rest = target[m.end():]
    return rest if rest.startswith("/") else "/" + rest


def check_request(settings=None, now=None):
    """Decides the current CherryPy request (see :func:`check`)."""
    request = cherrypy.serving.request
    if settings is None:
        settings = Settings.from_env()
    environ = getattr(request, "wsgi_environ", None) or {}
    if _REPEATED_ENV not in environ:
        _warn_no_reader()
    repeated = [r for r in environ.get(_REPEATED_ENV, "").split(",") if r]
    return check(settings, request.method, request_target(environ),
                 request.headers.get, repeated, now)


class Refusal(cherrypy.HTTPError):
    """A refusal, answered as plain text: the status and the message, nothing else."""

    def set_response(self):
        response = cherrypy.serving.response
        cherrypy._cperror.clean_headers(self.code)
        response.status = self.status
        response.headers.pop("Content-Length", None)
        response.headers["Content-Type"] = "text/plain; charset=utf-8"
        response.headers["Cache-Control"] = "no-store"
        response.body = self._message.encode("utf-8")


def enforce(secrets=None, require_signature=None, window=None, header=None):
    """Raises :class:`Refusal` unless the current request is accepted. Explicit arguments win
    over the environment (see :meth:`Settings.resolve`)."""
    try:
        settings = Settings.resolve(secrets, require_signature, window, header)
    except ConfigError as e:
        cherrypy.log(f"keygate: {e}", severity=40)
        raise Refusal(*CONFIG_ERROR) from None
    verdict = check_request(settings)
    if verdict is CONFIG_ERROR:
        cherrypy.log("keygate: no shared secret configured (SHARED_SECRETS or SHARED_SECRET)",
                     severity=40)
    if verdict is not None:
        raise Refusal(*verdict)


#: ``tools.keygate.on = True``; optional ``tools.keygate.secrets`` (a list or a comma-separated
#: string), ``.require_signature``, ``.window``, ``.header``; the environment fills the rest.
#: It runs as the resource starts: before the query string, the body and the handler.
tool = cherrypy.Tool("on_start_resource", enforce, name="keygate", priority=10)
cherrypy.tools.keygate = tool


def verified(func=None, **options):
    """Decorator for a handler: ``@verified`` or ``@verified(require_signature=True)``.
    Takes the tool's options."""
    def decorate(handler):
        @wraps(handler)
        def wrapper(*args, **kwargs):
            enforce(**options)
            return handler(*args, **kwargs)
        return wrapper
    return decorate(func) if func is not None else decorate


# ---- cheroot's header reader ----

class KeygateHeaderReader(cheroot_server.HeaderReader):
    """cheroot's header reader, with two changes that the checks above rely on:

    * A header name with ``_`` or outside the RFC 9110 token characters is dropped: in the WSGI
      environ ``X_Consumer_Id`` and ``X-Consumer-Id`` are one key, so a client could otherwise
      replace an identity header the gateway set.
    * The names of headers sent more than once are listed in the environ (cheroot keeps only
      the last value of most headers), so that a repeated signed header is refused.
    """

    _local = threading.local()

    def __call__(self, rfile, hdict=None):
        if hdict is None:
            hdict = {}
        self._local.counts = counts = {}
        try:
            super().__call__(rfile, hdict)
        finally:
            self._local.counts = None
        repeated = sorted(k for k, n in counts.items() if n > 1)
        hdict[_REPEATED_NAME] = b",".join(repeated)
        return hdict

    def _transform_key(self, key_name):
        key = super()._transform_key(key_name)
        counts = getattr(self._local, "counts", None)
        if counts is not None and self._allow_header(key):
            counts[key] = counts.get(key, 0) + 1
        return key

    def _allow_header(self, key_name):
        return b"_" not in key_name and _TOKEN.fullmatch(key_name) is not None


_warned = []


def _warn_no_reader():
    if not _warned:
        _warned.append(True)
        cherrypy.log("keygate: requests are not read by KeygateHeaderReader; repeated headers "
                     "cannot be detected (see keygate_verify.install_header_reader)", severity=30)


def install_header_reader():
    """Makes cheroot (CherryPy's HTTP server) read headers with :class:`KeygateHeaderReader`.
    Done on import; call it again if something replaced the reader."""
    cheroot_server.HTTPRequest.header_reader = KeygateHeaderReader()


install_header_reader()
