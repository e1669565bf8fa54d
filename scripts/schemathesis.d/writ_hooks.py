"""Schemathesis hooks for Writ's contract run (scripts/schemathesis).

A page cursor is an opaque value the server issues in a list's `next` and seals
under its own key: no generator can produce a valid one, so a schema-valid request
carrying a generated cursor is not sent (a negative one still is, and must be
refused).
"""

import schemathesis


@schemathesis.hook
def filter_case(context, case):
    query = case.query or {}
    meta = case.meta
    positive = meta is None or not meta.generation.mode.is_negative
    return not ("cursor" in query and positive)
