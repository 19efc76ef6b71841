"""oktasync: Okta-side configuration-as-code for SCIM provisioning."""

import sys

# pip refuses to install oktasync on an older Python (Requires-Python). This catches the other way in: a
# checkout run as `python3.10 -m oktasync`, which would otherwise end in a SyntaxError or ImportError deep in
# the package. Kept to syntax every Python 3 (and 2.7) parses, so the message is what that user sees.
if sys.version_info < (3, 11):  # noqa: UP036 (the point is to run on the versions ruff's target excludes)
    raise SystemExit(
        "oktasync needs Python 3.11 or newer; "
        + sys.executable
        + " is Python "
        + sys.version.split()[0]
        + ". Run it with python3.11 or later."
    )

__version__ = "0.1.0"
