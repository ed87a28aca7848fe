"""Unit tests for keygate_verify: the decision on its own, then the tool and the header reader in
a real CherryPy server on a loopback port, fed with exact bytes.

    target/venv-cherrypy/bin/python -m unittest -v examples/origin-cherrypy/test_keygate_verify.py
"""

import http.client
import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cherrypy  # noqa: E402

import app  # noqa: E402
import keygate_verify as kv  # noqa: E402
from keygate_verify import (  # noqa: E402
    CONFIG_ERROR, INVALID_SECRET, INVALID_SIGNATURE, NO_SECRET, NO_SIGNATURE, Settings)

VECTOR_SECRET = "keygate-test-vector-secret"
VECTOR_TARGET = "/base/v1/orders?limit=10&cursor=abc"
VECTOR_CANONICAL = ("keygate-v1\n1798502400\nPOST\n/base/v1/orders?limit=10&cursor=abc\nacme\n"
                    "4e93e9dbf651")
VECTOR_V1 = "8832bb8c123588d0d13980fe2f7031141cbc67445e293a2d08dad929d154cb14"

OLD = "old-secret-0123456789abcdef"
NEW = "new-secret-fedcba9876543210"
T = 1798502400


def headers(**fields):
    """A case-insensitive header lookup from keyword arguments (x_consumer_id=…)."""
    by_name = {k.replace("_", "-").lower(): v for k, v in fields.items()}
    return lambda name: by_name.get(name.lower())


def signed(secret=OLD, t=T, method="GET", target="/v1/x?a=1", consumer="acme", key_id="k1",
           **extra):
    """Headers of a request signed as the gateway does it."""
    fields = {"x_keygate_signature": kv.sign(secret, t, method, target, consumer, key_id)}
    if consumer is not None:
        fields["x_consumer_id"] = consumer
    if key_id is not None:
        fields["x_key_id"] = key_id
    fields.update(extra)
    return headers(**fields)


def decide(settings, hdrs, method="GET", target="/v1/x?a=1", repeated=(), now=T):
    return kv.check(settings, method, target, hdrs, repeated, now)


class TestVector(unittest.TestCase):
    def test_canonical_string(self):
        self.assertEqual(kv.canonical(T, "POST", VECTOR_TARGET, "acme", "4e93e9dbf651"),
                         VECTOR_CANONICAL)

    def test_signature(self):
        self.assertEqual(kv.sign(VECTOR_SECRET, T, "POST", VECTOR_TARGET, "acme", "4e93e9dbf651"),
                         f"t=1798502400,v1={VECTOR_V1}")

    def test_vector_is_accepted(self):
        s = Settings([VECTOR_SECRET])
        h = headers(x_keygate_signature=f"t=1798502400,v1={VECTOR_V1}", x_consumer_id="acme",
                    x_key_id="4e93e9dbf651")
        self.assertIsNone(decide(s, h, "POST", VECTOR_TARGET))


class StaticSecret(unittest.TestCase):
    def test_no_secret_configured_is_a_configuration_error(self):
        for s in (Settings([]), Settings([""])):
            self.assertEqual(decide(s, headers(x_shared_secret=OLD)), CONFIG_ERROR)
            self.assertEqual(decide(s, signed()), CONFIG_ERROR)
            self.assertEqual(decide(s, headers()), CONFIG_ERROR)

    def test_missing_header(self):
        self.assertEqual(decide(Settings([OLD]), headers()), NO_SECRET)
        # Present but empty is a wrong secret, as in the Rust verifier.
        self.assertEqual(decide(Settings([OLD]), headers(x_shared_secret="")), INVALID_SECRET)

    def test_wrong_secret(self):
        s = Settings([OLD])
        for wrong in (NEW, OLD[:-1], OLD + "x", OLD.upper(), " " + OLD):
            self.assertEqual(decide(s, headers(x_shared_secret=wrong)), INVALID_SECRET, wrong)

    def test_right_secret(self):
        self.assertIsNone(decide(Settings([OLD]), headers(x_shared_secret=OLD)))

    def test_rotation_accepts_every_listed_secret(self):
        s = Settings([OLD, NEW])
        self.assertIsNone(decide(s, headers(x_shared_secret=OLD)))
        self.assertIsNone(decide(s, headers(x_shared_secret=NEW)))
        self.assertEqual(decide(s, headers(x_shared_secret="third-" + OLD)), INVALID_SECRET)
        only_new = Settings([NEW])
        self.assertEqual(decide(only_new, headers(x_shared_secret=OLD)), INVALID_SECRET)

    def test_every_secret_is_compared(self):
        # No short-circuit: the comparison runs against each accepted secret.
        calls = []
        real = kv.hmac.compare_digest
        kv.hmac.compare_digest = lambda a, b: calls.append(a) or real(a, b)
        try:
            decide(Settings([OLD, NEW, "a-third-secret-xyz"]), headers(x_shared_secret=OLD))
            self.assertEqual(len(calls), 3)
            calls.clear()
            decide(Settings([OLD, NEW]), signed(secret=OLD))
            self.assertEqual(len(calls), 2)
        finally:
            kv.hmac.compare_digest = real

    def test_custom_header_name(self):
        s = Settings([OLD], header="X-Origin-Token")
        self.assertIsNone(decide(s, headers(x_origin_token=OLD)))
        self.assertEqual(decide(s, headers(x_shared_secret=OLD)), NO_SECRET)

    def test_repeated_secret_header_is_refused(self):
        s = Settings([OLD])
        self.assertEqual(decide(s, headers(x_shared_secret=OLD), repeated=["X-Shared-Secret"]),
                         INVALID_SECRET)

    def test_non_ascii_value_is_just_wrong(self):
        s = Settings([OLD])
        self.assertEqual(decide(s, headers(x_shared_secret="s\xe9cret")), INVALID_SECRET)


class Signatures(unittest.TestCase):
    s = Settings([OLD])

    def test_valid_signature_is_accepted_without_the_static_header(self):
        self.assertIsNone(decide(self.s, signed()))
        self.assertIsNone(decide(Settings([OLD], require_signature=True), signed()))

    def test_a_valid_signature_wins_over_a_wrong_static_secret(self):
        self.assertIsNone(decide(self.s, signed(x_shared_secret="wrong")))

    def test_an_invalid_signature_is_refused_even_with_the_right_static_secret(self):
        self.assertEqual(decide(self.s, signed(secret=NEW, x_shared_secret=OLD)),
                         INVALID_SIGNATURE)

    def test_required_signature_missing(self):
        s = Settings([OLD], require_signature=True)
        self.assertEqual(decide(s, headers(x_shared_secret=OLD)), NO_SIGNATURE)
        self.assertEqual(decide(s, headers()), NO_SIGNATURE)

    def test_rotation(self):
        both = Settings([OLD, NEW])
        self.assertIsNone(decide(both, signed(secret=OLD)))
        self.assertIsNone(decide(both, signed(secret=NEW)))
        self.assertEqual(decide(Settings([NEW]), signed(secret=OLD)), INVALID_SIGNATURE)

    def test_window(self):
        s = Settings([OLD], window=300)
        for t, ok in ((T - 300, True), (T + 300, True), (T - 301, False), (T + 301, False),
                      (T, True)):
            verdict = decide(s, signed(t=t))
            self.assertEqual(verdict, None if ok else INVALID_SIGNATURE, t - T)
        short = Settings([OLD], window=2)
        self.assertIsNone(decide(short, signed(t=T - 2)))
        self.assertEqual(decide(short, signed(t=T - 3)), INVALID_SIGNATURE)
        zero = Settings([OLD], window=0)
        self.assertIsNone(decide(zero, signed(t=T)))
        self.assertEqual(decide(zero, signed(t=T - 1)), INVALID_SIGNATURE)

    def test_replay_with_a_new_timestamp_fails(self):
        # Moving t forward without the secret breaks the MAC.
        h = signed(t=T - 400)
        moved = h("X-Keygate-Signature").replace(f"t={T - 400}", f"t={T}")
        self.assertEqual(decide(self.s, headers(x_keygate_signature=moved, x_consumer_id="acme",
                                                x_key_id="k1")), INVALID_SIGNATURE)

    def test_altered_fields_are_refused(self):
        good = signed(method="GET", target="/v1/x?a=1", consumer="acme", key_id="k1")
        sig = good("X-Keygate-Signature")
        base = dict(x_keygate_signature=sig, x_consumer_id="acme", x_key_id="k1")
        self.assertIsNone(decide(self.s, headers(**base)))
        cases = {
            "consumer": (headers(**{**base, "x_consumer_id": "acme2"}), "GET", "/v1/x?a=1"),
            "no consumer": (headers(x_keygate_signature=sig, x_key_id="k1"), "GET", "/v1/x?a=1"),
            "key id": (headers(**{**base, "x_key_id": "k2"}), "GET", "/v1/x?a=1"),
            "no key id": (headers(x_keygate_signature=sig, x_consumer_id="acme"), "GET",
                          "/v1/x?a=1"),
            "method": (headers(**base), "POST", "/v1/x?a=1"),
            "method case": (headers(**base), "get", "/v1/x?a=1"),
            "path": (headers(**base), "GET", "/v1/y?a=1"),
            "query": (headers(**base), "GET", "/v1/x?a=2"),
            "no query": (headers(**base), "GET", "/v1/x"),
            "empty query": (headers(**base), "GET", "/v1/x?"),
            "decoded": (headers(**base), "GET", "/v1/%78?a=1"),
            "unknown target": (headers(**base), "GET", None),
        }
        for name, (h, method, target) in cases.items():
            self.assertEqual(decide(self.s, h, method, target), INVALID_SIGNATURE, name)

    def test_empty_identity_fields_are_signed_as_empty(self):
        h = signed(consumer=None, key_id=None)
        self.assertIsNone(decide(self.s, h))
        self.assertEqual(decide(self.s, headers(x_keygate_signature=h("X-Keygate-Signature"),
                                                x_consumer_id="acme")), INVALID_SIGNATURE)

    def test_percent_encoding_is_signed_as_sent(self):
        target = "/v1/a%2Fb/%7Euser?q=a%20b&x=%2F"
        self.assertIsNone(decide(self.s, signed(target=target), target=target))
        self.assertEqual(decide(self.s, signed(target=target), target="/v1/a/b/~user?q=a b&x=/"),
                         INVALID_SIGNATURE)

    def test_malformed_signatures(self):
        v1 = signed()("X-Keygate-Signature").split("v1=")[1]
        for bad in ("", "t=,v1=" + v1, f"t={T}", f"v1={v1}", f"v1={v1},t={T}",
                    f"t={T},v1={v1.upper()}", f"t={T},v1={v1[:-1]}", f"t={T},v1={v1}0",
                    f"t={T}, v1={v1}", f" t={T},v1={v1}", f"t={T},v1={v1} ", f"t={T},v1={v1}\n",
                    f"t=+{T},v1={v1}", f"t=-{T},v1={v1}", f"t={T}.0,v1={v1}",
                    f"t=\u0661{T},v1={v1}", f"t={T};v1={v1}", f"t={T},v1={v1},v2={v1}",
                    f"T={T},v1={v1}", f"t={T},V1={v1}", f"t={T},v0={v1}", "garbage",
                    f"t=18446744073709551616,v1={v1}", f"t={'9' * 40},v1={v1}"):
            h = headers(x_keygate_signature=bad, x_consumer_id="acme", x_key_id="k1")
            self.assertEqual(decide(self.s, h), INVALID_SIGNATURE, repr(bad))

    def test_repeated_signed_headers_are_refused(self):
        for name in ("X-Keygate-Signature", "x-consumer-id", "X-Key-Id"):
            self.assertEqual(decide(self.s, signed(), repeated=[name]), INVALID_SIGNATURE, name)
        # Other repeated headers do not matter to the signature.
        self.assertIsNone(decide(self.s, signed(), repeated=["Accept", "X-Other"]))

    def test_signature_is_checked_before_require(self):
        s = Settings([OLD], require_signature=True)
        self.assertEqual(decide(s, headers(x_keygate_signature="bad")), INVALID_SIGNATURE)


class Config(unittest.TestCase):
    def test_secret_lists(self):
        env = {"SHARED_SECRETS": f" {OLD} , {NEW},,", "SHARED_SECRET": "ignored-secret"}
        self.assertEqual(Settings.from_env(env).secrets, [OLD, NEW])
        self.assertEqual(Settings.from_env({"SHARED_SECRET": OLD}).secrets, [OLD])
        self.assertEqual(Settings.from_env({"SHARED_SECRETS": " , ", "SHARED_SECRET": OLD}).secrets,
                         [OLD])
        self.assertEqual(Settings.from_env({}).secrets, [])

    def test_defaults(self):
        s = Settings.from_env({"SHARED_SECRET": OLD})
        self.assertEqual((s.require_signature, s.window, s.header),
                         (False, 300, "X-Shared-Secret"))

    def test_values(self):
        s = Settings.from_env({"SHARED_SECRET": OLD, "REQUIRE_SIGNATURE": "True",
                               "SIGNATURE_WINDOW_SECS": " 2 ",
                               "SHARED_SECRET_HEADER": "X-Origin-Token"})
        self.assertEqual((s.require_signature, s.window, s.header), (True, 2, "X-Origin-Token"))
        for v, want in (("1", True), ("yes", True), ("on", True), ("0", False), ("off", False),
                        ("", False), ("no", False)):
            self.assertEqual(Settings.from_env({"REQUIRE_SIGNATURE": v}).require_signature, want)

    def test_explicit_values_win_over_the_environment(self):
        env = {"SHARED_SECRETS": OLD, "REQUIRE_SIGNATURE": "1", "SIGNATURE_WINDOW_SECS": "5"}
        s = Settings.resolve(secrets=[NEW], require_signature=False, window=9, env=env)
        self.assertEqual((s.secrets, s.require_signature, s.window), ([NEW], False, 9))
        self.assertEqual(Settings.resolve(secrets=f"{OLD},{NEW}", env={}).secrets, [OLD, NEW])

    def test_invalid_values(self):
        for env in ({"REQUIRE_SIGNATURE": "maybe"}, {"SIGNATURE_WINDOW_SECS": "-1"},
                    {"SIGNATURE_WINDOW_SECS": "5s"}, {"SIGNATURE_WINDOW_SECS": "\u0665"},
                    {"SHARED_SECRET_HEADER": "X Bad"}):
            with self.assertRaises(kv.ConfigError, msg=env):
                Settings.from_env(env)

    def test_repr_hides_the_secrets(self):
        self.assertNotIn(OLD, repr(Settings([OLD, NEW])))


# ---- a real CherryPy server ----

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = None


class Decorated:
    @cherrypy.expose
    @kv.verified(secrets=[OLD], require_signature=False, window=300, header="X-Shared-Secret")
    def index(self):
        return b"decorated ok"


def setUpModule():
    global PORT
    for name in ("SHARED_SECRETS", "SHARED_SECRET", "REQUIRE_SIGNATURE", "SIGNATURE_WINDOW_SECS",
                 "SHARED_SECRET_HEADER"):
        os.environ.pop(name, None)
    PORT = free_port()
    cherrypy.config.update({"server.socket_host": "127.0.0.1", "server.socket_port": PORT,
                            "engine.autoreload.on": False, "checker.on": False,
                            "log.screen": False, "request.show_tracebacks": False})

    def mount(script, **tool):
        conf = {"tools.keygate.on": True}
        conf.update({f"tools.keygate.{k}": v for k, v in tool.items()})
        cherrypy.tree.mount(app.Origin(), script, {"/": conf})

    mount("/static", secrets=[OLD, NEW])
    mount("/required", secrets=[OLD], require_signature=True)
    mount("/none", secrets=[])
    mount("/badconfig", secrets=[OLD], require_signature="maybe")
    mount("/custom", secrets=OLD, header="X-Origin-Token")
    cherrypy.tree.mount(Decorated(), "/decorated", {})
    cherrypy.engine.start()
    cherrypy.engine.wait(cherrypy.engine.states.STARTED)


def tearDownModule():
    cherrypy.engine.exit()


def send(target, fields=(), method="GET", body=None):
    """One request with exactly these header lines; returns (status, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in fields:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8"), r.getheader("Content-Type")
    finally:
        conn.close()


def gateway_fields(target, secret=OLD, consumer="acme", key_id="k1", method="GET", t=None):
    t = int(time.time()) if t is None else t
    return [("X-Keygate-Signature", kv.sign(secret, t, method, target, consumer, key_id)),
            ("X-Consumer-Id", consumer), ("X-Key-Id", key_id)]


class Server(unittest.TestCase):
    def assert_refused(self, answer, verdict):
        status, body, ctype = answer
        self.assertEqual((status, body), verdict)
        self.assertEqual(ctype, "text/plain; charset=utf-8")
        for secret in (OLD, NEW):
            self.assertNotIn(secret, body)

    def test_static_secret(self):
        self.assert_refused(send("/static/x"), NO_SECRET)
        self.assert_refused(send("/static/x", [("X-Shared-Secret", "")]), INVALID_SECRET)
        self.assert_refused(send("/static/x", [("X-Shared-Secret", "nope")]), INVALID_SECRET)
        for secret in (OLD, NEW):
            status, body, _ = send("/static/x", [("X-Shared-Secret", secret),
                                                 ("X-Consumer-Id", "acme")])
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["consumer_id"], "acme")

    def test_root_path_is_served(self):
        status, body, _ = send("/static/", [("X-Shared-Secret", OLD)])
        self.assertEqual(status, 200, body)

    def test_no_secret_configured(self):
        self.assert_refused(send("/none/x", [("X-Shared-Secret", OLD)]), CONFIG_ERROR)
        self.assert_refused(send("/badconfig/x", [("X-Shared-Secret", OLD)]), CONFIG_ERROR)

    def test_custom_header(self):
        self.assertEqual(send("/custom/x", [("X-Origin-Token", OLD)])[0], 200)
        self.assert_refused(send("/custom/x", [("X-Shared-Secret", OLD)]), NO_SECRET)

    def test_decorator(self):
        self.assertEqual(send("/decorated/", [("X-Shared-Secret", OLD)])[:2],
                         (200, "decorated ok"))
        self.assert_refused(send("/decorated/"), NO_SECRET)
        self.assert_refused(send("/decorated/", [("X-Shared-Secret", NEW)]), INVALID_SECRET)

    def test_signed_request(self):
        target = "/required/v1/a%2Fb%20c/%7e?q=a%20b&empty=&x=%2F"
        status, body, _ = send(target, gateway_fields(target))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["target"], target)
        self.assert_refused(send("/required/x", [("X-Shared-Secret", OLD)]), NO_SIGNATURE)

    def test_signed_post_with_a_body(self):
        target = "/required/orders"
        status, body, _ = send(target, gateway_fields(target, method="POST"), "POST", b"{}")
        self.assertEqual(status, 200, body)
        self.assert_refused(send(target, gateway_fields(target, method="PUT"), "POST", b"{}"),
                            INVALID_SIGNATURE)

    def test_signature_over_the_decoded_target_is_refused(self):
        sent = "/required/a%2Fb?q=%20"
        self.assert_refused(send(sent, gateway_fields("/required/a/b?q= ")), INVALID_SIGNATURE)

    def test_replay_outside_the_window(self):
        target = "/required/x"
        now = int(time.time())
        self.assert_refused(send(target, gateway_fields(target, t=now - 301)), INVALID_SIGNATURE)
        self.assert_refused(send(target, gateway_fields(target, t=now + 301)), INVALID_SIGNATURE)
        # Well inside the window (the exact edge is tested above with a fixed clock).
        self.assertEqual(send(target, gateway_fields(target, t=now - 290))[0], 200)

    def test_altered_fields(self):
        target = "/required/x?a=1"
        good = gateway_fields(target)
        self.assertEqual(send(target, good)[0], 200)
        sig = good[0]
        for fields, sent, method in (
                ([sig, ("X-Consumer-Id", "evil"), ("X-Key-Id", "k1")], target, "GET"),
                ([sig, ("X-Consumer-Id", "acme"), ("X-Key-Id", "k9")], target, "GET"),
                ([sig, ("X-Key-Id", "k1")], target, "GET"),
                (good, "/required/y?a=1", "GET"),
                (good, "/required/x?a=2", "GET"),
                (good, "/required/x", "GET"),
                (good, target, "DELETE")):
            self.assert_refused(send(sent, fields, method), INVALID_SIGNATURE)

    def test_repeated_headers(self):
        target = "/required/x"
        good = gateway_fields(target)
        for repeated in good:
            self.assert_refused(send(target, good + [repeated]), INVALID_SIGNATURE)
        other = gateway_fields(target, consumer="evil")
        self.assert_refused(send(target, good + [other[1]]), INVALID_SIGNATURE)
        self.assert_refused(send(target, [other[1]] + good), INVALID_SIGNATURE)
        self.assert_refused(send(target, good + [other[0]]), INVALID_SIGNATURE)
        self.assert_refused(send("/static/x", [("X-Shared-Secret", "wrong"),
                                               ("X-Shared-Secret", OLD)]), INVALID_SECRET)
        # Repeating a header the signature does not cover is fine.
        self.assertEqual(send(target, good + [("X-Other", "1"), ("X-Other", "2")])[0], 200)

    def test_underscore_names_cannot_replace_identity_headers(self):
        # In the WSGI environ X_Consumer_Id and X-Consumer-Id are the same key.
        status, body, _ = send("/static/x", [("X-Shared-Secret", OLD), ("X-Consumer-Id", "acme"),
                                             ("X_Consumer_Id", "evil")])
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["consumer_id"], "acme")
        target = "/required/x"
        self.assertEqual(send(target, gateway_fields(target) + [("X_Consumer_Id", "evil")])[0],
                         200)
        self.assert_refused(send(target, [("X_Keygate_Signature", gateway_fields(target)[0][1]),
                                          ("X-Consumer-Id", "acme"), ("X-Key-Id", "k1")]),
                            NO_SIGNATURE)
        self.assert_refused(send("/static/x", [("X_Shared_Secret", OLD)]), NO_SECRET)

    def test_the_reader_marker_cannot_be_forged(self):
        target = "/required/x"
        good = gateway_fields(target)
        for name in ("Keygate-Repeated", "Keygate Repeated", "Keygate_Repeated"):
            answer = send(target, good + [good[1], (name, "")])
            self.assert_refused(answer, INVALID_SIGNATURE)


if __name__ == "__main__":
    unittest.main()
