"""Hostile query strings, path segments and headers on every route of the URL map: never a 5xx.

`tests/test_fuzz_forms.py` fuzzes POST bodies; this file fuzzes what arrives before a form is
read. For anonymous, member and staff clients, every GET route (the concrete URLs of the GET
access matrix) is requested

- with each query parameter the view reads (found by recording what the request's `args` and
  `values` are asked for on a clean request, plus `KNOWN_PARAMS`) set to each hostile value,
  one parameter at a time, and with all of them at once plus names nobody reads;
- with each path segment replaced by each hostile value;
- with bundles of odd headers (htmx, caching, ranges, languages, referers, cookie garbage);

and every POST route is sent bodies with odd Content-Types (with a valid CSRF header, so the
view itself reads them). The answer must be below 500 and carry no traceback. The lists are
deterministic, so a failure names the request that caused it and the file stays quick.
Upload file names belong to the evidence tests.
"""
import re
import time
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import ImmutableMultiDict

from tests.support.get_matrix import EXPECTED as GET_MATRIX

LONG = "k" * 6000
# Raw (already percent-encoded) values for query parameters, one parameter at a time.
HOSTILE = [
    "%00", "%0d%0aSet-Cookie:%20x=1", "99999999999999999999", "-1", "2147483648", "9" * 5000,
    "99999999999999999999-01", "2026-99999999999999999999",
    "%E2%80%AE1", "%EF%BC%91",  # a bidi override; a fullwidth digit (int() reads it, the database would not)
    LONG, "%ff",
]
# For the request that sets every parameter at once, plus names nobody reads.
COMBINED = ["%00", "99999999999999999999", "2027-02-30", LONG + "%ff%E2%80%AE"]
# For path segments: `<int:...>` ones (routing refuses all but ASCII digits in range) ...
INT_SEGMENTS = ["99999999999999999999", "2147483648", "2147483647", "-1", "%EF%BC%91", "9" * 5000]
# ... and text ones (tokens, references, GSS codes, question ids, file names).
TEXT_SEGMENTS = ["%00", "%0a", "99999999999999999999", "%E2%80%AE1", LONG, "%ff", "..%2f..%2fetc%2fpasswd", "%20",
                 "%3Cscript%3E"]
# Query parameters read only on some paths (the recorder finds the rest).
KNOWN_PARAMS = ("page", "q", "type", "region", "status", "role", "action", "topic", "tag", "principle",
                "month", "format", "when", "workshop", "change", "next")
UNREAD_NAMES = "zz%00=1&%ff=%ff&a%5B%5D=1&" + "n" * 300 + "=1"

HEADER_BUNDLES = [
    {"HX-Request": "true", "HX-Target": "%00" + LONG, "HX-Current-URL": "javascript:alert(1)", "HX-Trigger": "\u202e",
     "Accept-Language": "\x00;q=x, ../../etc, " + "en-GB;q=0.9," * 200, "Referer": "http://[::1",
     "If-Modified-Since": "Mon, 99 Foo 99999 99:99:99 GMT", "Range": "bytes=99999999999999999999-",
     "Accept": "*/*;q=x"},
    {"HX-Request": "\x00", "HX-Boosted": "true", "If-Modified-Since": "Fri, 01 Jan 9999 00:00:00 GMT",
     "If-None-Match": "*", "If-Range": "garbage", "If-Unmodified-Since": "yesterday", "Range": "bytes=5-1, -0, 7-",
     "Accept-Language": "%ff\u200b", "Accept-Charset": "\x00", "Referer": "/" + "../" * 50,
     "Content-Type": "text/\x00"},
]
# Sent from a fresh client each time: garbage cookies sign the client out.
COOKIE_GARBAGE = {"Cookie": "session=garbage%ff.\x00; remember_token=1|" + "f" * 200
                      + "; remember_token=\x7f; session="}

# Content-Type oddities for POST bodies.
POST_BODIES = [
    ("multipart/form-data", b"--x\r\n"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"\x00\"\r\n\r\n%ff\r\n--x"),
    ("application/x-www-form-urlencoded; charset=ebcdic", b"%ff%00=1&name=%00&page=99999999999999999999"),
    ("application/json", b"{\"name\": "),
    ("text/plain; charset=\x00", b"\xff\xfe\x00"),
]
POST_NOT_FUZZED = {"/auth/logout"}  # would sign the client out half way
TRACEBACK = "Traceback (most recent call last)"
ROLES = ("anonymous", "member", "admin")  # an admin reaches every staff page (the audit log too)
SEGMENT = re.compile(r"<(?:([a-z]+)(?:\([^)]*\))?:)?(\w+)>")


class _Recorder:
    """The query and form names the view asked for during the last request."""

    names: set = set()


class RecordingDict(ImmutableMultiDict):
    """`request.args` / `request.form` that remember which names were looked up."""

    def __getitem__(self, key):
        _Recorder.names.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None, type=None):  # noqa: A002 - the MultiDict signature
        _Recorder.names.add(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):  # noqa: A002
        _Recorder.names.add(key)
        return super().getlist(key, type)

    def __contains__(self, key):
        _Recorder.names.add(key)
        return super().__contains__(key)


def recording(app):
    """Make the app's requests record the names they read."""

    class RecordingRequest(app.request_class):
        parameter_storage_class = RecordingDict

    app.request_class = RecordingRequest


class Failures:
    """Requests that answered 5xx, raised, or showed a traceback."""

    def __init__(self):
        self.items = []
        self.count = 0

    def check(self, client, method, url, **kwargs):
        """Send one request; note it if the server failed."""
        self.count += 1
        _Recorder.names = set()
        try:
            response = client.open(url, method=method, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any exception is the finding
            self.items.append(f"{method} {url[:160]} {kwargs.get('headers', '')!s:.120}: {type(exc).__name__}: "
                              f"{exc!s:.200}")
            return None
        body = response.get_data(as_text=True) if (response.mimetype or "").startswith("text") else ""
        if response.status_code >= 500 or TRACEBACK in body:
            self.items.append(f"{method} {url[:160]}: {response.status_code}")
        return response

    def assert_none(self):
        """Fail with every request that failed (first 40)."""
        assert not self.items, f"{len(self.items)} of {self.count} requests failed:\n" + "\n".join(self.items[:40])


def signed_in_client(app, make_user, role):
    """A fresh client signed in as `role`."""
    client = app.test_client()
    if role != "anonymous":
        make_user(email=f"fuzz-{role}@example.org", role=role if role in ("staff", "admin") else "member")
        response = client.post_form("/auth/login", {"email": f"fuzz-{role}@example.org",
                                                    "password": "correct horse battery"}, token_from="/privacy")
        assert response.status_code == 302
    return client


def concrete_urls(app, ids_) -> dict:
    """rule -> a URL that reaches the view: from the GET access matrix, or (for a rule it does
    not list yet, which test_http_access reports) filled in like the POST rules."""
    urls = {rule: spec[0].format(**ids_) for rule, spec in GET_MATRIX.items()}
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and rule.rule not in urls:
            urls[rule.rule] = fill_rule(rule.rule, ids_)
    return urls


def with_segment(rule: str, url: str, name: str, value: str) -> str:
    """`url` (a URL for `rule`) with the path segment `name` replaced by `value`."""
    pattern = "^" + SEGMENT.sub(lambda m: f"(?P<{m.group(2)}>{'.+' if m.group(1) == 'path' else '[^/]+?'})",
                                re.escape(rule).replace(r"\<", "<").replace(r"\>", ">")
                                .replace(r"\(", "(").replace(r"\)", ")").replace(r"\:", ":")) + "$"
    match = re.match(pattern, url)
    assert match, (rule, url)
    start, end = match.span(name)
    return url[:start] + value + url[end:]


def segment_kinds(rule: str) -> list[tuple[str, str]]:
    """The placeholders of a rule as (converter, name)."""
    return [(m.group(1) or "default", m.group(2)) for m in SEGMENT.finditer(rule)]


def first_role_reaching(rule: str) -> str:
    """The least privileged of ROLES that the GET matrix lets see the page (anonymous if none)."""
    outcomes = GET_MATRIX.get(rule, ("", {}))[1]
    return next((role for role in ROLES if outcomes.get(role) == 200), ROLES[0])


@pytest.mark.parametrize("role", ROLES)
def test_query_strings_paths_and_headers_never_fail(app, make_user, ids, role):
    """Every GET route for this role: hostile query values, path segments and headers; no 5xx.

    Each page is fuzzed by the least privileged role that sees it, and public pages by a member
    too (a member's principles page reads ?workshop= for the live room). `<int:...>` segments,
    which routing refuses before any view runs, are fuzzed by the anonymous client only."""
    started = time.monotonic()
    recording(app)
    client = signed_in_client(app, make_user, role)
    failures = Failures()
    for rule, url in concrete_urls(app, ids).items():
        response = failures.check(client, "GET", url)
        reached = response is not None and response.status_code == 200
        read = sorted(name for name in _Recorder.names if name != "csrf_token")
        first = first_role_reaching(rule)
        for name in read if reached and (first == role or (role == "member" and first == "anonymous")) else ():
            for value in HOSTILE:  # one at a time, so a refusal of one cannot hide another
                failures.check(client, "GET", f"{url}?{name}={value}")
        if first != role:
            continue
        every = sorted(set(read) | set(KNOWN_PARAMS))
        for value in COMBINED:
            failures.check(client, "GET", f"{url}?{'&'.join(f'{n}={value}' for n in every)}&{UNREAD_NAMES}")
        for converter, name in segment_kinds(rule):
            values = INT_SEGMENTS if converter == "int" else TEXT_SEGMENTS
            if converter != "int" or role == ROLES[0]:
                for value in values:
                    failures.check(client, "GET", with_segment(rule, url, name, value))
        for headers in HEADER_BUNDLES:
            failures.check(client, "GET", url, headers=headers)
        failures.check(app.test_client(), "GET", url, headers=COOKIE_GARBAGE)
    failures.assert_none()
    if role != "anonymous":  # the client stayed signed in, so the pages behind sign-in were fuzzed
        assert client.get("/account/").status_code == 200
    print(f"{role}: {failures.count} requests in {time.monotonic() - started:.1f}s")


# Placeholders of POST rules (and of GET rules the access matrix does not list), from `ids` (others "1").
POST_ARGS = {"workshop_id": "workshop", "registration_id": "reg", "draft_id": "draft", "suggestion_id": "suggestion",
             "call_id": "call", "submission_id": "submission", "round_id": "round", "member_id": "listed",
             "org_id": "org"}
POST_TEXT_ARGS = {"gss_code": "E06000023", "question_id": "delivers"}
# Would sign the fuzzing client out half way (their bodies are fuzzed in test_fuzz_forms.py).
POST_NOT_FUZZED = {"/auth/logout", "/auth/logout-everywhere"}


def post_urls(app, ids_) -> list[str]:
    """A URL for every POST rule of the app."""
    urls = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "POST" not in rule.methods or rule.rule in POST_NOT_FUZZED:
            continue
        urls.append(fill_rule(rule.rule, ids_))
    return urls


def fill_rule(rule: str, ids_) -> str:
    """A URL for `rule` with its placeholders filled from the `ids` fixture ("1" when unknown)."""
    return SEGMENT.sub(lambda m: str(ids_[POST_ARGS[m.group(2)]]) if m.group(2) in POST_ARGS
                       else POST_TEXT_ARGS.get(m.group(2), "1"), rule)


@pytest.mark.parametrize("role", ("anonymous", "admin"))
def test_post_bodies_with_odd_content_types_never_fail(app, make_user, ids, role):
    """Every POST route, with a valid CSRF header, sent bodies that are not what the form sends:
    multipart without a boundary or with a broken part, an unknown charset, JSON, binary."""
    started = time.monotonic()
    client = signed_in_client(app, make_user, role)
    token = client.csrf_token("/privacy")
    failures = Failures()
    for url in post_urls(app, ids):
        for content_type, body in POST_BODIES:
            failures.check(client, "POST", url, data=body,
                           headers={"Content-Type": content_type, "X-CSRFToken": token, "HX-Request": "true"})
        failures.check(client, "POST", f"{url}?workshop=99999999999999999999&next=%00",
                       data={"csrf_token": token, "workshop": "%00"})
    failures.assert_none()
    if role != "anonymous":
        assert client.get("/account/").status_code == 200
    print(f"POST {role}: {failures.count} requests in {time.monotonic() - started:.1f}s")


QUERY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(st.one_of(st.sampled_from(KNOWN_PARAMS), QUERY_TEXT), QUERY_TEXT), max_size=6))
def test_random_query_strings_never_fail(app, client, pairs):
    """Random names and values (any Unicode, percent-encoded), on the public pages that read the query."""
    failures = Failures()
    query = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs)
    for page in ("/workshops/", "/evidence/library", "/principles/", "/auth/login", "/councils/"):
        failures.check(client, "GET", f"{page}?{query}")
    failures.assert_none()
