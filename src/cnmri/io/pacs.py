"""PACS over DICOMweb (QIDO-RS, WADO-RS, STOW-RS) with dicomweb-client: pull a study, push results.

Authentication: basic (``--user``/``--password`` or ``CNMRI_PACS_USER``/``CNMRI_PACS_PASSWORD``) or a
bearer token (``--token`` or ``CNMRI_PACS_TOKEN``). Failed connections and 429/5xx answers are retried
with exponential back-off, every request has a timeout. Errors become :class:`CnmriError`: a wrong URL,
refused credentials or an unknown study are exit 2, a PACS still unreachable after the retries exit 3.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from pydicom.dataset import Dataset

from cnmri.errors import InputError, ProcessingError

_log = logging.getLogger(__name__)
T = TypeVar("T")

ENV_USER, ENV_PASSWORD, ENV_TOKEN = "CNMRI_PACS_USER", "CNMRI_PACS_PASSWORD", "CNMRI_PACS_TOKEN"
#: HTTP answers worth retrying: the server is busy or restarting (RFC 9110 §15.6, RFC 6585 §4).
RETRY_STATUS = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class PacsConfig:
    url: str
    user: str | None = None
    password: str | None = None
    token: str | None = None
    timeout_s: float = 30.0
    retries: int = 4
    backoff_s: float = 0.5

    @classmethod
    def from_options(
        cls,
        url: str,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout_s: float = 30.0,
        retries: int = 4,
    ) -> PacsConfig:
        """Options win over the environment; basic and bearer authentication exclude each other."""
        user = user or os.environ.get(ENV_USER) or None
        password = password or os.environ.get(ENV_PASSWORD) or None
        token = token or os.environ.get(ENV_TOKEN) or None
        if not url.startswith(("http://", "https://")):
            raise InputError(f"--url {url!r} is not an http(s) DICOMweb base URL (e.g. http://pacs:8042/dicom-web)")
        if token and user:
            raise InputError(
                f"give either a bearer token ({ENV_TOKEN}/--token) or a user ({ENV_USER}/--user), not both"
            )
        if user and not password:
            raise InputError(f"--user {user} needs a password: --password or {ENV_PASSWORD}")
        if timeout_s <= 0 or retries < 0:
            raise InputError("--timeout must be > 0 and --retries >= 0")
        return cls(url.rstrip("/"), user, password, token, timeout_s, retries)

    def redacted_url(self) -> str:
        """The URL for messages, without credentials a user may have written into it."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _session(config: PacsConfig) -> requests.Session:
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    # Connection failures and busy answers: retried here with exponential back-off (urllib3 Retry).
    retry = Retry(
        total=config.retries,
        connect=config.retries,
        read=config.retries,
        status=config.retries,
        backoff_factor=config.backoff_s,
        status_forcelist=RETRY_STATUS,
        allowed_methods=None,  # STOW (POST) of the same instances is idempotent: the same SOP UIDs
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if config.user:
        session.auth = (config.user, config.password or "")
    if config.token:
        session.headers["Authorization"] = f"Bearer {config.token}"
    return session


class Pacs:
    """A DICOMweb endpoint with cnmri's error handling around each call."""

    def __init__(self, config: PacsConfig) -> None:
        from dicomweb_client.api import DICOMwebClient

        self.config = config
        self.client = DICOMwebClient(url=config.url, session=_session(config), timeout=config.timeout_s)
        # One retry layer only (the session's urllib3 Retry): dicomweb-client's own would multiply the attempts.
        self.client.set_http_retry_params(retry=True, max_attempts=1)

    def _call(self, what: str, action: Callable[[], T]) -> T:
        url = self.config.redacted_url()
        try:
            return action()
        except requests.exceptions.HTTPError as err:
            status = err.response.status_code if err.response is not None else 0
            if status in (401, 403):
                raise InputError(
                    f"the PACS at {url} refused {what} (HTTP {status}): check --user/--password or --token "
                    f"({ENV_USER}, {ENV_PASSWORD}, {ENV_TOKEN})"
                ) from None
            if status == 404:
                raise InputError(f"{what}: not found at {url} (HTTP 404); check the URL and the UID") from None
            if status in RETRY_STATUS:
                raise ProcessingError(
                    f"the PACS at {url} kept failing {what} (HTTP {status}); try again later"
                ) from None
            raise InputError(f"the PACS at {url} rejected {what} (HTTP {status})") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
            raise ProcessingError(
                f"the PACS at {url} is unreachable for {what} after {self.config.retries} retries "
                f"({type(err).__name__}); check that it runs and the URL"
            ) from None
        except requests.exceptions.RequestException as err:
            raise InputError(f"cannot talk to the PACS at {url} for {what}: {type(err).__name__}") from None

    def search_studies(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._call(
            "the study search (QIDO-RS)",
            lambda: self.client.search_for_studies(
                search_filters=filters or {},
                fields=["NumberOfStudyRelatedInstances", "ModalitiesInStudy"],
                get_remaining=True,
            ),
        )

    def iter_study(self, study_uid: str) -> Iterator[Dataset]:
        yield from self._call(f"study {study_uid} (WADO-RS)", lambda: list(self.client.iter_study(study_uid)))

    def store(self, datasets: Sequence[Dataset]) -> Dataset:
        return self._call(
            f"storing {len(datasets)} instance(s) (STOW-RS)", lambda: self.client.store_instances(datasets)
        )


def study_attribute(study: dict[str, Any], tag: str) -> Any:
    values = study.get(tag, {}).get("Value") or [None]
    return values[0]


def write_dataset_atomic(ds: Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        ds.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def pull_study(pacs: Pacs, study_uid: str, out_dir: Path) -> int:
    """Every instance of the study under ``out_dir/<series UID>/<SOP UID>.dcm``; returns the count."""
    count = 0
    for ds in pacs.iter_study(study_uid):
        write_dataset_atomic(ds, Path(out_dir) / str(ds.SeriesInstanceUID) / f"{ds.SOPInstanceUID}.dcm")
        count += 1
    if count == 0:
        raise InputError(f"study {study_uid} has no instances at {pacs.config.url}")
    return count


def output_files(out_dir: Path) -> list[Path]:
    folder = Path(out_dir) / "dicom"
    files = sorted(p for p in folder.rglob("*.dcm") if p.is_file()) if folder.is_dir() else []
    if not files:
        raise InputError(
            f"{folder} holds no DICOM objects: give the output folder of 'cnmri analyze STUDY_DIR' (DICOM input)"
        )
    return files


def push_outputs(pacs: Pacs, out_dir: Path) -> int:
    """STOW-RS of every file of OUT/dicom/ (SR, SEG, KO, SCs); returns the number stored."""
    import pydicom

    datasets = [pydicom.dcmread(str(f)) for f in output_files(out_dir)]
    response = pacs.store(datasets)
    failed = response.get("FailedSOPSequence") if response is not None else None
    if failed:
        reasons = sorted({str(item.get("FailureReason", "?")) for item in failed})
        raise ProcessingError(f"the PACS did not store {len(failed)} of {len(datasets)} objects (reasons {reasons})")
    return len(datasets)
