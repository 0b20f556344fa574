"""Validation of repository addresses and branch names that come from users, webhooks and the API.

All of it is hostile input. Each function returns a normalised value or raises `InvalidInput` with
one short message saying what is wrong; nothing else happens (apart from a DNS lookup for https
hosts other than GitHub, to refuse addresses on private networks, unless the caller opts out).
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import re
import socket
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from nyxsync.errors import DomainError

# Fits ProjectSync.repository_url and ProjectSync.branch.
MAX_URL_LENGTH = 500
MAX_BRANCH_BYTES = 255
GITHUB_HOST = "github.com"
DNS_TIMEOUT_SECONDS = 2.0

_GITHUB_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_GITHUB_NAME = r"[A-Za-z0-9._-]{1,100}"
_GITHUB_SHORTHAND = re.compile(rf"(?P<owner>{_GITHUB_OWNER})/(?P<name>{_GITHUB_NAME})")
_GITHUB_PATH = re.compile(rf"/(?P<owner>{_GITHUB_OWNER})/(?P<name>{_GITHUB_NAME})/?")
# git's "<transport>::<address>" form runs remote helpers (ext:: runs any command).
_TRANSPORT_PREFIX = re.compile(r"[A-Za-z0-9+.-]+::")
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PATH_CHARS = re.compile(r"[A-Za-z0-9._~/+-]+")
_INSECURE_SCHEMES = ("git", "http")
_SSH_SCHEMES = ("ssh", "git+ssh", "ssh+git")
# Characters git refuses anywhere in a ref name (git-check-ref-format rule 4, 5 and 10).
_REF_FORBIDDEN = "~^:?*[\\"


class InvalidInput(DomainError, ValueError):
    """Input refused; the message is one short sentence meant for the person who typed it."""


@dataclass(frozen=True)
class Repository:
    url: str  # what git fetches
    display: str  # what a person reads
    github_full_name: str | None = None  # "owner/name" for repositories on the GitHub host (GITHUB_URL)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


def normalize_repository(value: str, *, resolve: bool = True) -> Repository:
    """A GitHub `owner/name`, an https:// URL, or a git:// / http:// URL on an allowed local host.

    resolve=False skips the DNS lookup (literal IP addresses are still checked): repositories.git resolves
    and pins the addresses itself when it connects.
    """
    _check_text(value, what="repository", max_length=MAX_URL_LENGTH)
    if value.startswith("-"):
        raise InvalidInput("repository must not start with '-'")
    if _TRANSPORT_PREFIX.match(value):
        raise InvalidInput("'<transport>::' addresses are not allowed; use an https:// URL")
    if _SCHEME.match(value):
        return _normalize_url(value, resolve=resolve)
    shorthand = _GITHUB_SHORTHAND.fullmatch(value)
    if shorthand:
        return _github_repository(shorthand["owner"], shorthand["name"])
    if "@" in value or ":" in value.split("/", 1)[0]:
        raise InvalidInput("SSH addresses (user@host:path) are not supported; use an https:// URL")
    raise InvalidInput("not a repository: use a GitHub owner/name or an https:// URL")


def validate_branch(name: str) -> str:
    """The rules of `git check-ref-format --branch`, plus a length limit and no option-like names."""
    _check_text(name, what="branch name", max_length=MAX_BRANCH_BYTES)
    if len(name.encode("utf-8")) > MAX_BRANCH_BYTES:
        raise InvalidInput(f"branch name is too long (at most {MAX_BRANCH_BYTES} bytes)")
    if name.startswith("-"):
        raise InvalidInput("branch name must not start with '-'")
    if name in ("HEAD", "@"):
        raise InvalidInput(f"'{name}' is not a branch name")
    if ".." in name or "@{" in name:
        raise InvalidInput("branch name must not contain '..' or '@{'")
    forbidden = sorted(set(_REF_FORBIDDEN) & set(name))
    if forbidden:
        raise InvalidInput(f"branch name must not contain {forbidden[0]!r}")
    if name.startswith("/") or name.endswith("/") or "//" in name:
        raise InvalidInput("branch name must not start or end with '/' or contain '//'")
    if name.endswith("."):
        raise InvalidInput("branch name must not end with '.'")
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            raise InvalidInput("no part of a branch name may start with '.' or end with '.lock'")
    return name


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, refused if any of them is on a private network."""
    # getaddrinfo has no timeout of its own: wait for it in a thread, and leave that thread behind.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        infos = pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM).result(DNS_TIMEOUT_SECONDS)
    except (OSError, concurrent.futures.TimeoutError):
        raise InvalidInput(f"host {host} could not be resolved") from None
    finally:
        pool.shutdown(wait=False)
    addresses = sorted({info[4][0] for info in infos})
    for address in addresses:
        _check_public_ip(ipaddress.ip_address(address.split("%", 1)[0]), host)
    return addresses


def private_networks_allowed(host: str) -> bool:
    """Hosts listed as insecure (local use and tests) and NYXSYNC_ALLOW_PRIVATE_NETWORKS skip the check."""
    return settings.NYXSYNC_ALLOW_PRIVATE_NETWORKS or host in _insecure_hosts()


def _check_text(value: object, *, what: str, max_length: int) -> None:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text")
    if not value:
        raise InvalidInput(f"{what} is empty")
    if len(value) > max_length:
        raise InvalidInput(f"{what} is too long (at most {max_length} characters)")
    # Categories C* (control, format, surrogate, unassigned) and Z* (spaces, line separators).
    if any(unicodedata.category(char)[0] in "CZ" for char in value):
        raise InvalidInput(f"{what} must not contain whitespace or control characters")


def _normalize_url(value: str, *, resolve: bool) -> Repository:
    if not value.isascii():
        raise InvalidInput("repository URL must be ASCII (write the host in its xn-- form)")
    scheme = _SCHEME.match(value)["scheme"].lower()
    if scheme == "file":
        raise InvalidInput("file:// URLs are not allowed")
    if scheme in _SSH_SCHEMES:
        raise InvalidInput("ssh:// URLs are not supported; use an https:// URL")
    if scheme not in ("https", *_INSECURE_SCHEMES):
        raise InvalidInput(f"{scheme}:// URLs are not supported; use an https:// URL")
    parts = urlsplit(value)
    if "@" in parts.netloc:
        raise InvalidInput("credentials in the URL are not allowed; give the project an access token instead")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise InvalidInput("repository URL must not have a query string or a fragment")
    host = _valid_host(parts.hostname or "", parts.netloc)
    port = _valid_port(parts)
    path = _valid_path(parts.path)
    if scheme in _INSECURE_SCHEMES and host not in _insecure_hosts():
        raise InvalidInput(f"{scheme}:// is only allowed for local test hosts; use an https:// URL")
    if _is_github(scheme, host, port):
        github = _GITHUB_PATH.fullmatch(path)
        if not github:
            raise InvalidInput(f"not a repository URL: expected {settings.GITHUB_URL}/owner/name")
        return _github_repository(github["owner"], github["name"])
    if not private_networks_allowed(host):
        _check_public_host(host, port or 443, resolve=resolve)
    netloc = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{netloc}{'' if port is None else f':{port}'}{path.rstrip('/')}"
    return Repository(url=url, display=url)


def github_web_url() -> tuple[str, str, int | None]:
    """(scheme, host, port) of GITHUB_URL: github.com, or a GitHub Enterprise Server."""
    parts = urlsplit(settings.GITHUB_URL)
    return parts.scheme.lower(), (parts.hostname or GITHUB_HOST).lower(), parts.port


def _is_github(scheme: str, host: str, port: int | None) -> bool:
    github_scheme, github_host, github_port = github_web_url()
    default = {"https": 443, "http": 80}.get(scheme)
    return scheme == github_scheme and host == github_host and (port or default) == (github_port or default)


def _github_repository(owner: str, name: str) -> Repository:
    name = name.removesuffix(".git")
    if name in ("", ".", ".."):
        raise InvalidInput("not a valid GitHub repository name")
    full_name = f"{owner}/{name}"
    return Repository(url=f"{settings.GITHUB_URL.rstrip('/')}/{full_name}.git", display=full_name, github_full_name=full_name)


def _valid_host(host: str, netloc: str) -> str:
    if not host:
        raise InvalidInput("repository URL has no host")
    if netloc.startswith("["):
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            raise InvalidInput("repository URL has an invalid IPv6 address") from None
    labels = host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise InvalidInput("repository URL has an invalid host name")
    # Resolvers read "127.1", "2130706433" or "0x7f.0.0.1" as IPv4: only the dotted-quad form is allowed.
    if labels[-1].isdigit() or labels[-1].startswith("0x"):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise InvalidInput("repository URL has an invalid IP address") from None
    return host


def _valid_port(parts) -> int | None:
    try:
        port = parts.port
    except ValueError:
        raise InvalidInput("repository URL has an invalid port") from None
    if port == 0:
        raise InvalidInput("repository URL has an invalid port")
    return port


def _valid_path(path: str) -> str:
    if path in ("", "/"):
        raise InvalidInput("repository URL has no path")
    if not _PATH_CHARS.fullmatch(path):
        raise InvalidInput("repository URL path contains characters that are not allowed")
    if any(segment in (".", "..") for segment in path.split("/")):
        raise InvalidInput("repository URL path must not contain '.' or '..' segments")
    return path


def _check_public_host(host: str, port: int, *, resolve: bool) -> None:
    if host == "localhost" or host.endswith(".localhost"):
        raise InvalidInput(f"host {host} is on a private network")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if resolve:
            public_addresses(host, port)
    else:
        _check_public_ip(address, host)


def _check_public_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str) -> None:
    # An IPv6 address that carries an IPv4 one reaches that IPv4 host (through a translator, a
    # tunnel or the host's own stack): both must be public.
    judged = [address, *(embedded_ipv4(address) if address.version == 6 else [])]
    if any(not candidate.is_global or candidate.is_multicast for candidate in judged):
        raise InvalidInput(f"host {host} is on a private network")


# NAT64 prefixes (RFC 6052's well-known one, RFC 8215's local-use one): the low 32 bits are the
# IPv4 address. IPv4-compatible addresses (::a.b.c.d, RFC 4291, deprecated) likewise.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible
    (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d), 6to4 (2002:aabb:ccdd::) and Teredo (server and client)."""
    found = [mapped for mapped in (address.ipv4_mapped, address.sixtofour) if mapped is not None]
    found += list(address.teredo or ())
    # :: and ::1 are not IPv4 addresses in disguise: they are judged as they are.
    if any(address in network for network in _NAT64) or (address in _IPV4_COMPATIBLE and int(address) > 1):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _insecure_hosts() -> set[str]:
    return {host.lower() for host in settings.NYXSYNC_INSECURE_GIT_HOSTS}
