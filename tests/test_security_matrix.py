"""Who may change what: every state-changing route for every role, and CSRF on every one of them.

Generated from the URL map: a POST/PUT/PATCH/DELETE route without a row in EXPECTED fails
`test_every_state_changing_route_has_an_expectation`, so a new route cannot be missed. Requests
carry a valid CSRF token and a minimal form, so what is tested is the access check; a role that
is turned away must leave every row of every table exactly as it was.
"""

import pytest

from tests.support.post_matrix import (
    CSRF_EXEMPT,
    DENIED,
    EXPECTED,
    ROLES,
    TOKEN_PAGE,
    WRITE_METHODS,
    changes,
    check_csrf_refused,
    check_outcome,
    csrf_role,
    past_access_check,
    snapshot,
    write_method,
)


def test_every_state_changing_route_has_an_expectation(app):
    """A state-changing route added to the app without a row in EXPECTED fails here."""
    rules = {rule.rule for rule in app.url_map.iter_rules() if rule.methods & WRITE_METHODS}
    missing = rules - EXPECTED.keys()
    assert not missing, f"add these state-changing routes to EXPECTED: {sorted(missing)}"
    stale = EXPECTED.keys() - rules
    assert not stale, f"EXPECTED lists routes that take no POST/PUT/PATCH/DELETE: {sorted(stale)}"
    for rule, (_url, outcomes, _form) in EXPECTED.items():
        assert set(outcomes) == set(ROLES), rule
        assert set(outcomes.values()) <= DENIED | {"ok", "refused"}, rule


# One test per route (not per route and role): each test builds an app and the fixture rows,
# which costs more than the requests, and this file runs in CI on every push on both databases.
@pytest.mark.parametrize("rule", EXPECTED)
def test_state_changing_route(app, post_ids, signed_in, rule):
    """A route's CSRF check, then its access check for every role, then the htmx header token.

    CSRF: a role the route lets through is refused without a valid token and nothing is written.
    Access: with a valid token in the form field, refused roles get 403 or the right redirect and
    leave every table as it was; allowed roles get past the check. Last, the session's real
    token sent as the X-CSRFToken header (as htmx does) is accepted.
    """
    url_template, outcomes, form = EXPECTED[rule]
    url = url_template.format(**post_ids)
    method = write_method(app, rule)
    clients = {role: signed_in(role) for role in ROLES}
    csrf_client = clients[csrf_role(outcomes)][0]
    other_token = app.test_client().csrf_token(TOKEN_PAGE)
    if rule in CSRF_EXEMPT:  # on purpose (the reason is in CSRF_EXEMPT): a bare post gets through
        response = app.test_client().open(url, method=method, data=dict(form))
        assert past_access_check(response), f"{rule}: {response.status_code}"
    else:
        check_csrf_refused(csrf_client, method, url, form, other_token)
    # Refused roles first: they must leave the data exactly as the allowed roles will find it.
    for role in sorted(ROLES, key=lambda r: outcomes[r] == "ok"):
        client, token = clients[role]
        before = snapshot() if outcomes[role] != "ok" else None
        response = client.open(url, method=method, data={**form, "csrf_token": token})
        try:
            check_outcome(response, outcomes[role], url)
            if before is not None:
                assert changes(before, snapshot()) == {}
        except AssertionError as exc:
            raise AssertionError(f"{role} {method} {url}: {exc}") from exc
    token = csrf_client.csrf_token(TOKEN_PAGE)  # fresh: signing out (POST /auth/logout) starts a new session
    response = csrf_client.open(url, method=method, data=dict(form),
                                headers={"HX-Request": "true", "X-CSRFToken": token})
    assert past_access_check(response), f"header token: {response.status_code} {response.get_data(as_text=True)[:300]}"
