"""Where the controller keeps personal data, and finding a subject's records in it.

- ``datamap``: the ``[[sources]]`` part of a profile, read and checked.
- ``identities``: the subject's identities, normalized, and the forms databases store them in.
- ``sql``: locating records in any SQLAlchemy database; checking that a source still fits.
- ``results``: plain dataclasses of what was found, for pages, answers and plans.
- ``locate``: the whole profile at once, from a request's verified identities.
- ``manual``: systems without a connection become manual tasks on the request.

The package imports nothing at its top so that ``dsr.profiles`` can use ``datamap``.
"""
