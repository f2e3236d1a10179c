"""The REST shapes live in :mod:`accio.client.models` (shared with the CLI's ``--json``)."""

from accio.client.models import *  # noqa: F403
from accio.client.models import __all__ as __all__
