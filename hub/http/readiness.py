"""What /readyz checks besides the database: every data file the hub reads while it serves.

The quality criteria, the templates and the country profiles ship in the package; the routing
policy is installed by the deployment's steps (deploy/README.md, section 3). Each is read and
parsed again on every check, uncached, so a file removed or broken after the start shows at once.
A file at fault is named by what it is and by its setting, never by its path: /readyz answers
anybody, and the install's layout is nobody's business but the operator's, whom the hub's log
tells the path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from jinja2 import TemplateError

from connectors.countries.profiles import load_profiles, profile_dirs_from_env
from connectors.errors import ConnectorError
from hub.errors import HubError
from hub.http.dashboard import check_templates
from hub.logs import get_logger
from hub.network.routing import load_policy
from hub.oversight.quality import read_criteria
from hub.settings import Settings

__all__ = ["DATA_FILES", "DataFile", "unready_data_files"]

log = get_logger(__name__)


@dataclass(frozen=True)
class DataFile:
    """One data file (or set of files) the hub needs, as /readyz names it, and how to check it."""

    name: str
    check: Callable[[Settings], object]


DATA_FILES = (
    DataFile(
        "the quality criteria (HUB_QUALITY_CRITERIA, or the package's own)",
        lambda settings: read_criteria(settings.quality_criteria),
    ),
    DataFile(
        "the routing policy (HUB_ROUTING_POLICY): the next start would fail",
        lambda settings: load_policy(settings.routing_policy),
    ),
    DataFile("the dashboard's templates (package data)", lambda _settings: check_templates()),
    DataFile(
        "the country profiles (package data and CONNECTOR_PROFILES)",
        lambda _settings: load_profiles(profile_dirs_from_env()),
    ),
)


def unready_data_files(settings: Settings) -> list[str]:
    """The names of the data files that cannot be read or parsed now; logged with their cause."""
    unready = []
    for data_file in DATA_FILES:
        try:
            data_file.check(settings)
        except (HubError, ConnectorError, OSError, TemplateError) as exc:
            # The cause names the path: for the operator's log only.
            log.error("data_file_unready", data_file=data_file.name, cause=str(exc))
            unready.append(data_file.name)
    return unready
