"""Project sources: an uploaded archive of Terraform files (checked, then stored) and a Git checkout.

Archives (tar.gz or zip) are checked member by member before anything is written: absolute paths,
`..`, links (symbolic or hard), devices and anything that is not a regular file or directory are
refused, as are archives over `PROJECT_ARCHIVE_MAX_BYTES` (compressed, and the same bound on the
unpacked total so a small bomb cannot fill a disk). Extraction writes only the checked regular files.

Git: HTTPS only; the token is handed to git through the environment (`GIT_CONFIG_*` with an
`http.extraHeader`), never in the URL, the process arguments or the log.
"""

from __future__ import annotations

import base64
import io
import os
import posixpath
import stat
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class SourceError(ValueError):
    """An archive or repository the platform refuses; `str()` is the user-facing reason."""


@dataclass
class Member:
    name: str
    is_dir: bool
    size: int


def _check_name(raw: str) -> str:
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise SourceError(f"The archive holds an absolute path: {raw!r}.")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise SourceError(f"The archive holds a path with '..': {raw!r}.")
    return "/".join(parts)


def _tar_members(data: bytes) -> list[Member]:
    members: list[Member] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            for info in archive:
                name = _check_name(info.name)
                if info.issym() or info.islnk():
                    raise SourceError(f"The archive holds a link: {info.name!r}. Links are refused.")
                if not (info.isfile() or info.isdir()):
                    raise SourceError(f"The archive holds a special file: {info.name!r}.")
                if name:
                    members.append(Member(name, info.isdir(), info.size))
    except tarfile.TarError as exc:
        raise SourceError(f"Not a readable tar.gz or zip archive ({exc.__class__.__name__}).") from None
    return members


def _zip_members(data: bytes) -> list[Member]:
    members: list[Member] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                name = _check_name(info.filename)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise SourceError(f"The archive holds a link: {info.filename!r}. Links are refused.")
                if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    raise SourceError(f"The archive holds a special file: {info.filename!r}.")
                if name:
                    members.append(Member(name, info.is_dir(), info.file_size))
    except zipfile.BadZipFile:
        raise SourceError("Not a readable tar.gz or zip archive.") from None
    return members


def _is_zip(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


def check_archive(data: bytes) -> list[str]:
    """The archive's file names, or `SourceError` with the reason it is refused."""
    limit = int(settings.PROJECT_ARCHIVE_MAX_BYTES)
    if not data:
        raise SourceError("The archive is empty.")
    if len(data) > limit:
        raise SourceError(f"The archive is {len(data)} bytes; the limit is {limit} bytes.")
    members = _zip_members(data) if _is_zip(data) else _tar_members(data)
    if sum(m.size for m in members) > limit * 10:
        raise SourceError(f"The archive unpacks to more than {limit * 10} bytes.")
    files = sorted(m.name for m in members if not m.is_dir)
    if not any(name.endswith(".tf") or name.endswith(".tf.json") for name in files):
        raise SourceError("The archive holds no .tf file.")
    return files


def extract_archive(data: bytes, dest: str) -> None:
    """Write the (already checked, checked again here) regular files of the archive under `dest`."""
    check_archive(data)
    root = os.path.realpath(dest)

    def target(name: str) -> str:
        path = os.path.realpath(os.path.join(root, *name.split("/")))
        if not path.startswith(root + os.sep):
            raise SourceError(f"The archive path {name!r} leaves the project directory.")
        return path

    def write(name: str, content: bytes) -> None:
        path = target(name)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)

    if _is_zip(data):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                name = _check_name(info.filename)
                if name and not info.is_dir():
                    write(name, archive.read(info))
        return
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for info in archive:
            name = _check_name(info.name)
            if name and info.isfile():
                handle = archive.extractfile(info)
                write(name, handle.read() if handle else b"")


def read_tf_files(directory: str) -> dict[str, str]:
    """`{relative name: text}` of the .tf files directly in `directory` (Terraform reads one directory)."""
    found: dict[str, str] = {}
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if entry.endswith(".tf") and os.path.isfile(path) and not os.path.islink(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                found[entry] = handle.read()
    return found


def archive_tf_files(data: bytes, subdirectory: str = "") -> dict[str, str]:
    """The .tf texts of an archive's root (or `subdirectory`) without writing anything to disk."""
    prefix = _check_name(subdirectory).strip("/")
    wanted: dict[str, str] = {}

    def keep(name: str, read: object) -> None:
        parent, base = posixpath.split(name)
        if parent == prefix and base.endswith(".tf"):
            wanted[base] = read().decode("utf-8", errors="replace")  # type: ignore[operator]

    if _is_zip(data):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    keep(_check_name(info.filename), lambda info=info: archive.read(info))
    else:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            for info in archive:
                if info.isfile():
                    keep(_check_name(info.name), lambda info=info: archive.extractfile(info).read())
    return wanted


# --- Git ------------------------------------------------------------------------------------------


def check_git_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")):
        raise SourceError("Use an https:// repository URL.")
    if parts.username or parts.password:
        raise SourceError("Put no credentials in the URL: the Git connection's token is used.")
    if not parts.hostname:
        raise SourceError("Enter a repository URL such as https://github.com/acme/infra.git.")
    return url.strip()


def git_auth_env(username: str, token: str) -> dict[str, str]:
    """Environment that makes git send `Authorization: Basic` for every request, via GIT_CONFIG_*:
    nothing in argv (visible in /proc) or in the URL (visible in logs and .git/config)."""
    basic = base64.b64encode(f"{username}:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        "GIT_TERMINAL_PROMPT": "0",
    }


def git_clone(url: str, ref: str, dest: str, env: dict[str, str], *, timeout: float) -> None:
    """Shallow clone of `ref` (branch or tag; default branch when empty) into `dest`."""
    args = [settings.GIT_BIN, "clone", "--quiet", "--depth", "1", "--no-tags"]
    if ref:
        args += ["--branch", ref]
    args += ["--", check_git_url(url), dest]
    try:
        result = subprocess.run(  # noqa: S603 - fixed executable, no shell
            args, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise SourceError(f"git is not installed at {settings.GIT_BIN!r} (setting GIT_BIN).") from None
    except subprocess.TimeoutExpired:
        raise SourceError("The Git clone timed out.") from None
    if result.returncode != 0:
        last = (result.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise SourceError(f"The Git clone failed: {last[0]}")
