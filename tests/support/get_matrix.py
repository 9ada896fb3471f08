"""The GET routes' matrix: what each role gets from each GET route of the app (url_map rule ->
a concrete URL and {role: outcome}). Used by test_http_access.py, the security headers check
(test_security_sessions.py) and the request fuzzer (test_fuzz_requests.py)."""

ROLES = ("anonymous", "unconfirmed", "member", "staff", "admin")

# Outcomes: 200, 400, 403, "login" (302 to sign-in with next=<the url>),
# "account" (302 to /account/, e.g. unconfirmed members or signed-in visitors of join/login).
PUBLIC = dict.fromkeys(ROLES, 200)
SIGNED_IN = {"anonymous": "login", "unconfirmed": 200, "member": 200, "staff": 200, "admin": 200}
CONFIRMED = {"anonymous": "login", "unconfirmed": "account", "member": 200, "staff": 200, "admin": 200}
STAFF = {"anonymous": "login", "unconfirmed": 403, "member": 403, "staff": 200, "admin": 200}
ADMIN = {"anonymous": "login", "unconfirmed": 403, "member": 403, "staff": 403, "admin": 200}
SIGNED_OUT_ONLY = {"anonymous": 200, "unconfirmed": "account", "member": "account", "staff": "account",
                   "admin": "account"}

# url_map rule -> (a concrete URL, {role: outcome}). Placeholders are filled from the `ids` fixture:
# "{listed}" a listed member, "{org}" that member's organisation, "{workshop}" a published workshop,
# "{reg}" the listed member's registration for it, "{feed}" the listed member's calendar token.
# "redirect:<path>" means a 302 to that path for that role.
EXPECTED = {
    "/": ("/", PUBLIC),
    "/privacy": ("/privacy", PUBLIC),
    "/accessibility": ("/accessibility", PUBLIC),
    "/contact": ("/contact", PUBLIC),
    "/healthz": ("/healthz", PUBLIC),
    "/static/<path:filename>": ("/static/css/app.css", PUBLIC),
    "/vendor/<name>": ("/vendor/htmx.min.js", PUBLIC),
    "/auth/join": ("/auth/join", SIGNED_OUT_ONLY),
    "/auth/login": ("/auth/login", SIGNED_OUT_ONLY),
    "/auth/reset": ("/auth/reset", PUBLIC),
    "/auth/check-email": ("/auth/check-email", PUBLIC),  # joining signs nobody in (issue 9, finding 8)
    "/auth/confirm/<token>": ("/auth/confirm/not-a-real-token", dict.fromkeys(ROLES, 400)),
    "/auth/reset/<token>": ("/auth/reset/not-a-real-token", dict.fromkeys(ROLES, 400)),
    "/members/": ("/members/", CONFIRMED),
    "/members/<int:member_id>": ("/members/{listed}", CONFIRMED),
    "/organisations/": ("/organisations/", CONFIRMED),
    "/organisations/<int:org_id>": ("/organisations/{org}", CONFIRMED),
    "/staff/organisations/": ("/staff/organisations/", STAFF),
    # Members edit their own organisation's record; "{org}" is one the signed-in member is not in.
    "/organisations/<int:org_id>/edit": (
        "/organisations/{org}/edit",
        {"anonymous": "login", "unconfirmed": "account", "member": 403, "staff": 200, "admin": 200},
    ),
    "/account/": ("/account/", SIGNED_IN),
    "/account/password": ("/account/password", SIGNED_IN),
    "/account/email": ("/account/email", SIGNED_IN),
    "/account/export": ("/account/export", SIGNED_IN),
    "/account/delete": ("/account/delete", SIGNED_IN),
    "/account/notifications": ("/account/notifications", SIGNED_IN),
    # The link in every campaign email: no sign-in needed (the signed token is the key).
    "/unsubscribe/<token>": ("/unsubscribe/{unsubscribe}", PUBLIC),
    "/staff/": ("/staff/", STAFF),
    "/staff/members/": ("/staff/members/", STAFF),
    "/staff/members/<int:member_id>": ("/staff/members/{listed}", STAFF),
    "/staff/members.csv": ("/staff/members.csv", STAFF),
    "/staff/audit/": ("/staff/audit/", ADMIN),
    "/staff/outbox/": ("/staff/outbox/", STAFF),
    # Workshops
    "/workshops/": ("/workshops/", PUBLIC),
    "/workshops/<int:workshop_id>": ("/workshops/{workshop}", PUBLIC),
    "/workshops/<int:workshop_id>.ics": ("/workshops/{workshop}.ics", PUBLIC),
    "/calendar/<token>.ics": ("/calendar/{feed}.ics", PUBLIC),
    "/account/workshops": ("/account/workshops", SIGNED_IN),
    # "Are you sure?" before cancelling a place (the signed-in roles have none here: the page says so).
    "/workshops/<int:workshop_id>/cancel": ("/workshops/{workshop}/cancel", SIGNED_IN),
    "/staff/workshops/": ("/staff/workshops/", STAFF),
    "/staff/workshops/new": ("/staff/workshops/new", STAFF),
    "/staff/workshops/<int:workshop_id>": ("/staff/workshops/{workshop}", STAFF),
    "/staff/workshops/<int:workshop_id>/edit": ("/staff/workshops/{workshop}/edit", STAFF),
    "/staff/workshops/<int:workshop_id>/cancel": ("/staff/workshops/{workshop}/cancel", STAFF),
    "/staff/workshops/<int:workshop_id>/attendance": ("/staff/workshops/{workshop}/attendance", STAFF),
    "/staff/workshops/<int:workshop_id>/attendance/count": ("/staff/workshops/{workshop}/attendance/count", STAFF),
    "/staff/workshops/<int:workshop_id>/scan": ("/staff/workshops/{workshop}/scan", STAFF),
    # An attendee's ticket (what their QR code opens): an unknown code is 404 for everyone (test_checkin_day.py).
    "/t/<code>": ("/t/not-a-real-ticket-code", dict.fromkeys(ROLES, 404)),
    "/staff/workshops/<int:workshop_id>/attendance/<int:registration_id>": (
        "/staff/workshops/{workshop}/attendance/{reg}", STAFF),
    "/staff/workshops/<int:workshop_id>/sheet": ("/staff/workshops/{workshop}/sheet", STAFF),
    "/staff/workshops/<int:workshop_id>/attendance.csv": ("/staff/workshops/{workshop}/attendance.csv", STAFF),
    "/staff/workshops/<int:workshop_id>/attendance.json": ("/staff/workshops/{workshop}/attendance.json", STAFF),
    "/staff/workshops/checkin-sw.js": ("/staff/workshops/checkin-sw.js", PUBLIC),  # the check-in page's service worker
    "/staff/workshops/<int:workshop_id>/live": (
        "/staff/workshops/{workshop}/live", {**STAFF, "staff": "redirect:/staff/workshops/{workshop}/control",
                                             "admin": "redirect:/staff/workshops/{workshop}/control"}),
    "/staff/workshops/<int:workshop_id>/control": ("/staff/workshops/{workshop}/control", STAFF),
    "/staff/workshops/<int:workshop_id>/present": ("/staff/workshops/{workshop}/present", STAFF),
    "/staff/workshops/<int:workshop_id>/present/poll": ("/staff/workshops/{workshop}/present/poll", STAFF),
    "/staff/workshops/<int:workshop_id>/room-code": ("/staff/workshops/{workshop}/room-code", STAFF),
    "/w/<int:workshop_id>": ("/w/{workshop}", dict.fromkeys(ROLES, "redirect:/principles/")),
    "/w/<int:workshop_id>/code": ("/w/{workshop}/code", dict.fromkeys(ROLES, "redirect:/w/{workshop}")),
    "/w/sign-in/<token>": ("/w/sign-in/not-a-real-token", PUBLIC),
    # Principles: "{round}" is open, "{closed_round}" closed (results public), "{draft}" a draft of the open round.
    "/principles/": ("/principles/", PUBLIC),
    "/principles/<int:number>/history": ("/principles/1/history", PUBLIC),
    "/principles/drafts/<int:draft_id>": ("/principles/drafts/{draft}", PUBLIC),
    "/principles/rounds/<int:round_id>/responses": ("/principles/rounds/{round}/responses", PUBLIC),
    "/principles/rounds/<int:round_id>/results": ("/principles/rounds/{closed_round}/results", PUBLIC),
    "/principles/rounds/<int:round_id>/results.csv": ("/principles/rounds/{closed_round}/results.csv", PUBLIC),
    "/staff/rounds/": ("/staff/rounds/", STAFF),
    "/staff/rounds/new": ("/staff/rounds/new", STAFF),
    "/staff/rounds/<int:round_id>/edit": ("/staff/rounds/{round}/edit", STAFF),
    "/staff/rounds/<int:round_id>/close": ("/staff/rounds/{round}/close", STAFF),  # "are you sure?" pages
    "/staff/rounds/<int:round_id>/adopt": ("/staff/rounds/{closed_round}/adopt", STAFF),
    "/staff/suggestions/<int:suggestion_id>/respond": ("/staff/suggestions/{suggestion}/respond", STAFF),
    # Moderation: "{comment}" is a vote comment awaiting moderation, "{suggestion}" an approved suggestion.
    "/staff/moderation": ("/staff/moderation", STAFF),
    "/staff/moderation/<item_kind>/<int:item_id>/hide": ("/staff/moderation/comment/{comment}/hide", STAFF),
    "/staff/moderation/<item_kind>/<int:item_id>/redact": ("/staff/moderation/suggestion/{suggestion}/redact", STAFF),
    # Call for evidence: "{call}" is open with a survey and written evidence; "{submission}" has a PDF.
    "/evidence/": ("/evidence/", PUBLIC),
    "/evidence/library": ("/evidence/library", PUBLIC),
    # "{published}" is in the library with its document; "{submission}" awaits review (404 for all).
    "/evidence/library/<int:submission_id>": ("/evidence/library/{published}", PUBLIC),
    "/evidence/library/<int:submission_id>/file": ("/evidence/library/{published}/file", PUBLIC),
    "/evidence/calls/<int:call_id>": ("/evidence/calls/{call}", PUBLIC),
    "/evidence/calls/<int:call_id>/submit": ("/evidence/calls/{call}/submit", PUBLIC),
    "/evidence/calls/<int:call_id>/received/<reference>": ("/evidence/calls/{call}/received/{reference}", PUBLIC),
    "/evidence/calls/<int:call_id>/survey": ("/evidence/calls/{call}/survey", PUBLIC),
    "/evidence/calls/<int:call_id>/survey/<question_id>": ("/evidence/calls/{call}/survey/delivers", PUBLIC),
    "/evidence/calls/<int:call_id>/survey/check": (
        "/evidence/calls/{call}/survey/check", dict.fromkeys(ROLES, "redirect:/evidence/calls/{call}/survey/delivers")),
    "/evidence/calls/<int:call_id>/survey/not-for-you": ("/evidence/calls/{call}/survey/not-for-you", PUBLIC),
    "/evidence/calls/<int:call_id>/survey/done/<reference>": ("/evidence/calls/{call}/survey/done/KIL-S-ABCDEF",
                                                              PUBLIC),
    "/evidence/confirm/<token>": ("/evidence/confirm/not-a-real-token", dict.fromkeys(ROLES, 400)),
    "/staff/evidence/": ("/staff/evidence/", STAFF),
    "/staff/evidence.csv": ("/staff/evidence.csv", STAFF),
    "/staff/evidence/<int:submission_id>": ("/staff/evidence/{submission}", STAFF),
    "/staff/evidence/<int:submission_id>/file": ("/staff/evidence/{submission}/file", STAFF),
    "/staff/evidence/calls/": ("/staff/evidence/calls/", STAFF),
    "/staff/evidence/calls/new": ("/staff/evidence/calls/new", STAFF),
    "/staff/evidence/calls/<int:call_id>/edit": ("/staff/evidence/calls/{call}/edit", STAFF),
    "/staff/evidence/calls/<int:call_id>/survey-results": ("/staff/evidence/calls/{call}/survey-results", STAFF),
    "/staff/evidence/calls/<int:call_id>/survey.csv": ("/staff/evidence/calls/{call}/survey.csv", STAFF),
    "/staff/evidence/calls/<int:call_id>/survey-summary.csv":
        ("/staff/evidence/calls/{call}/survey-summary.csv", STAFF),
    # Councils and pledges
    "/councils/": ("/councils/", PUBLIC),
    "/councils/<gss_code>": ("/councils/E06000023", PUBLIC),
    "/councils/<gss_code>/pledge": ("/councils/E06000023/pledge", CONFIRMED),
    # The council journey: "{assessment}" is Bristol's draft self-assessment (its own councillors,
    # officers and staff only: the roles here are not of Bristol's council); an invitation link that
    # is not valid is a 400 once signed in.
    "/councils/<gss_code>/journey": ("/councils/E06000023/journey", PUBLIC),
    # The signed endorsement document: Bristol has no pledge here, so none to read (404 for every role;
    # test_http_journey.py downloads a real one).
    "/councils/<gss_code>/endorsement": ("/councils/E06000023/endorsement", dict.fromkeys(ROLES, 404)),
    "/councils/<gss_code>/assessments/new": ("/councils/E06000023/assessments/new", CONFIRMED),
    "/councils/<gss_code>/assessments/<int:assessment_id>": (
        "/councils/E06000023/assessments/{assessment}", {**STAFF, "unconfirmed": 403}),
    "/councils/<gss_code>/assessments/<int:assessment_id>/check": (
        "/councils/E06000023/assessments/{assessment}/check", {**STAFF, "unconfirmed": 403}),
    "/councils/champions/accept/<token>": (
        "/councils/champions/accept/not-a-real-token", {**dict.fromkeys(ROLES, 400), "anonymous": "login",
                                                         "unconfirmed": "account"}),
    "/staff/pledges/": ("/staff/pledges/", STAFF),
    # Staff: every council's journey, its CSV and a council's whole history.
    "/staff/councils/": ("/staff/councils/", STAFF),
    "/staff/councils.csv": ("/staff/councils.csv", STAFF),
    "/staff/councils/<gss_code>": ("/staff/councils/E06000023", STAFF),
    # Staff messages and members' updates ("{update}": sent to the listed member only, so 404 for the roles)
    "/staff/messages/": ("/staff/messages/", STAFF),
    "/staff/messages/new": ("/staff/messages/new", STAFF),
    "/staff/messages/count": ("/staff/messages/count?kind=campaign&member_types=councillor", STAFF),
    "/staff/messages/<int:message_id>": ("/staff/messages/{message}", STAFF),
    "/staff/messages/<int:message_id>/preview": ("/staff/messages/{message}/preview", STAFF),
    "/staff/messages/<int:message_id>/progress": ("/staff/messages/{message}/progress", STAFF),
    "/updates/": ("/updates/", SIGNED_IN),
    "/updates/<int:message_id>": ("/updates/{update}", {**dict.fromkeys(ROLES, 404), "anonymous": "login"}),
}
