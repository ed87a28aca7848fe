"""schemathesis hooks for scripts/schemathesis.sh: keeps the run from revoking its own root key,
and adds the check every_operation_succeeded (below).

schemathesis reuses ids it saw in answers, and GET /roots lists the root key the run itself
authenticates with; DELETE /roots/{that id} would revoke it, and every later request would be a
401 (a documented answer, so nothing would fail, and nothing more would be tested). That one id
is replaced by an id that names no root key (the same id with its last digit changed), so the
request still goes out and its answer (a 404) is still checked. Nothing else is touched.
"""

import os
import sys

import schemathesis

OWN_ROOT_ID = os.environ["KEYGATE_SCHEMATHESIS_ROOT_ID"]
STAND_IN_ID = OWN_ROOT_ID[:-1] + ("0" if OWN_ROOT_ID[-1] != "0" else "1")
_told = False


@schemathesis.hook
def before_call(context, case, kwargs):
    if (
        case.operation.method.lower() == "delete"
        and case.operation.path == "/roots/{id}"
        and (case.path_parameters or {}).get("id") == OWN_ROOT_ID
    ):
        case.path_parameters["id"] = STAND_IN_ID
        global _told
        if not _told:
            _told = True
            print(
                f"schemathesis hooks: DELETE /roots/{OWN_ROOT_ID} (this run's own root key) "
                f"is sent as DELETE /roots/{STAND_IN_ID}, this time and every other",
                file=sys.stderr,
            )


@schemathesis.check
class every_operation_succeeded:
    """Fails the run when an operation never answered 2xx: its success answer and its schema
    were then never checked, and a gateway that refused, say, every create with a 422 (a
    documented answer) would pass."""

    def __init__(self):
        self.tested = set()
        self.succeeded = set()

    def after_response(self, ctx, response, case):
        label = case.operation.label
        self.tested.add(label)
        if 200 <= response.status_code < 300:
            self.succeeded.add(label)

    def after_run(self, ctx):
        never = self.tested - self.succeeded
        if never:
            raise AssertionError("never answered 2xx: " + ", ".join(sorted(never)))
