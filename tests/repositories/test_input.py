"""Repository addresses and branch names from outside: the good ones normalised, the hostile ones refused."""

import re
import socket
import subprocess
import time

import pytest

from repositories import input as repository_input
from repositories.input import InvalidInput, Repository, normalize_repository, validate_branch

GOOD_REPOSITORIES = [
    ("django/django", Repository("https://github.com/django/django.git", "django/django", "django/django")),
    ("octo-org/repo.name_1", Repository("https://github.com/octo-org/repo.name_1.git", "octo-org/repo.name_1", "octo-org/repo.name_1")),
    ("owner/name.git", Repository("https://github.com/owner/name.git", "owner/name", "owner/name")),
    ("https://github.com/owner/name", Repository("https://github.com/owner/name.git", "owner/name", "owner/name")),
    ("https://github.com/owner/name.git", Repository("https://github.com/owner/name.git", "owner/name", "owner/name")),
    ("https://github.com/owner/name/", Repository("https://github.com/owner/name.git", "owner/name", "owner/name")),
    ("HTTPS://GitHub.com/Owner/Name", Repository("https://github.com/Owner/Name.git", "Owner/Name", "Owner/Name")),
    ("https://github.com:443/owner/name", Repository("https://github.com/owner/name.git", "owner/name", "owner/name")),
    ("git://127.0.0.1:9418/repo.git", Repository("git://127.0.0.1:9418/repo.git", "git://127.0.0.1:9418/repo.git")),
    ("http://localhost:8080/team/repo.git", Repository("http://localhost:8080/team/repo.git", "http://localhost:8080/team/repo.git")),
    ("https://127.0.0.1:8443/repo.git/", Repository("https://127.0.0.1:8443/repo.git", "https://127.0.0.1:8443/repo.git")),
    ("https://93.184.216.34:2222/group/sub/repo", Repository("https://93.184.216.34:2222/group/sub/repo", "https://93.184.216.34:2222/group/sub/repo")),
]  # fmt: skip

# (value, what the message says)
HOSTILE_REPOSITORIES = [
    ("", "is empty"),
    ("x" * 501, "too long"),
    ("file:///etc/passwd", "file:// URLs are not allowed"),
    ("FILE:///etc/passwd", "file:// URLs are not allowed"),
    ("ext::sh -c touch% /tmp/pwned", "whitespace"),
    ("ext::sh", "'<transport>::' addresses are not allowed"),
    ("fd::17", "'<transport>::' addresses are not allowed"),
    ("ssh://git@github.com/a/b.git", "ssh:// URLs are not supported"),
    ("git+ssh://github.com/a/b.git", "ssh:// URLs are not supported"),
    ("git@github.com:a/b.git", "SSH addresses"),
    ("github.com:a/b.git", "SSH addresses"),
    ("-uhttps://github.com/a/b", "must not start with '-'"),
    ("--upload-pack=touch%20/tmp/x", "must not start with '-'"),
    ("https://user:pw@github.com/a/b.git", "credentials in the URL"),
    ("https://token@github.com/a/b.git", "credentials in the URL"),
    ("https://github.com@evil.example/a/b.git", "credentials in the URL"),
    ("https://github.com/a/b.git\n", "whitespace or control characters"),
    ("https://github.com/a/b\x00.git", "whitespace or control characters"),
    ("https://github.com/a/b\u202e.git", "whitespace or control characters"),
    (" owner/name", "whitespace or control characters"),
    ("owner/name\t", "whitespace or control characters"),
    ("https://10.1.2.3/repo.git", "private network"),
    ("https://192.168.0.1:8443/repo.git", "private network"),
    ("https://169.254.169.254/latest/meta-data", "private network"),
    ("https://[::1]/repo.git", "private network"),
    ("https://[::ffff:10.0.0.1]/repo.git", "private network"),
    ("https://[fe80::1]/repo.git", "private network"),
    ("https://0.0.0.0/repo.git", "private network"),
    ("https://100.64.0.1/repo.git", "private network"),
    ("https://localhost.localhost/repo.git", "private network"),
    # IPv6 addresses that carry a private IPv4 one (issue 12): NAT64, IPv4-compatible, mapped, 6to4, Teredo.
    ("https://[64:ff9b::7f00:1]/x.git", "private network"),
    ("https://[64:ff9b::a9fe:a9fe]/latest/meta-data", "private network"),
    ("https://[64:ff9b:1::a00:1]/x.git", "private network"),
    ("https://[::127.0.0.1]/x.git", "private network"),
    ("https://[::ffff:127.0.0.1]/x.git", "private network"),
    ("https://[2002:7f00:1::]/x.git", "private network"),
    ("https://[2002:c0a8:101::1]/x.git", "private network"),
    ("https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/x.git", "private network"),
    ("https://2130706433/repo.git", "invalid IP address"),
    ("https://0x7f.0.0.1/repo.git", "invalid IP address"),
    ("https://127.1/repo.git", "invalid IP address"),
    ("https://%31%32%37.0.0.1/repo.git", "invalid host name"),
    ("https://exa_mple.com/repo.git", "invalid host name"),
    ("https:///repo.git", "has no host"),
    ("https://example.com", "has no path"),
    ("https://example.com:0/repo.git", "invalid port"),
    ("https://example.com:99999/repo.git", "invalid port"),
    ("https://github.com/a/../../b.git", "'..' segments"),
    ("https://example.com/a/./b.git", "'..' segments"),
    ("https://example.com/a/%2e%2e/b.git", "characters that are not allowed"),
    ("https://example.com/a\\b.git", "characters that are not allowed"),
    ("https://example.com/repo.git?upload-pack=x", "query string or a fragment"),
    ("https://example.com/repo.git#frag", "query string or a fragment"),
    ("https://github.com/a/b/tree/main", "expected https://github.com/owner/name"),
    ("https://github.com/a", "expected https://github.com/owner/name"),
    ("https://gitlab.example/ünïcode.git", "must be ASCII"),
    ("git://example.com/repo.git", "only allowed for local test hosts"),
    ("http://github.com/a/b.git", "only allowed for local test hosts"),
    ("ftp://example.com/repo.git", "ftp:// URLs are not supported"),
    ("owner/..", "not a valid GitHub repository name"),
    ("owner/.git", "not a valid GitHub repository name"),
    ("owner", "not a repository"),
    ("a/b/c", "not a repository"),
    ("../../etc/passwd", "not a repository"),
    ("/srv/git/repo.git", "not a repository"),
]

GOOD_BRANCHES = [
    "main",
    "feature/login-form",
    "release-1.2",
    "v1.0",
    "fix_#12",
    "user@host",
    "@a",
    "a.b/c.d",
    "ünïcode",
    "a" * 255,
]

# (name, what the message says, whether git itself accepts it)
HOSTILE_BRANCHES = [
    ("", "is empty", False),
    ("a" * 256, "too long", True),
    ("é" * 128, "too long (at most 255 bytes)", True),
    ("-delete", "must not start with '-'", False),
    ("--upload-pack=x", "must not start with '-'", False),
    ("HEAD", "'HEAD' is not a branch name", False),
    ("@", "'@' is not a branch name", True),
    ("a..b", "'..' or '@{'", False),
    ("..", "'..' or '@{'", False),
    ("a@{1}", "'..' or '@{'", False),
    ("@{-1}", "'..' or '@{'", False),
    ("a b", "whitespace or control characters", False),
    ("a\tb", "whitespace or control characters", False),
    ("main\n", "whitespace or control characters", False),
    ("a\x00b", "whitespace or control characters", False),
    ("a\x7fb", "whitespace or control characters", False),
    ("a\u202eb", "whitespace or control characters", True),
    ("a\u00a0b", "whitespace or control characters", True),
    ("a~1", "'~'", False),
    ("a^2", "'^'", False),
    ("a:b", "':'", False),
    ("a?", "'?'", False),
    ("a*", "'*'", False),
    ("a[b", "'['", False),
    ("a\\b", "'\\\\'", False),
    ("/a", "start or end with '/'", False),
    ("a/", "start or end with '/'", False),
    ("a//b", "contain '//'", False),
    ("a.", "must not end with '.'", False),
    (".hidden", "start with '.'", False),
    ("a/.b", "start with '.'", False),
    ("a.lock", "end with '.lock'", False),
    ("a.lock/b", "end with '.lock'", False),
]


@pytest.mark.parametrize(("value", "expected"), GOOD_REPOSITORIES)
def test_it_normalises_good_repositories(value, expected):
    assert normalize_repository(value) == expected


@pytest.mark.parametrize(("value", "message"), HOSTILE_REPOSITORIES)
def test_it_refuses_hostile_repositories(value, message, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _no_dns)

    with pytest.raises(InvalidInput, match=re.escape(message)) as raised:
        normalize_repository(value)
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 120


def test_it_refuses_hosts_that_resolve_to_private_networks(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _resolves_to("93.184.216.34", "10.0.0.7"))

    with pytest.raises(InvalidInput, match="host git.example.com is on a private network"):
        normalize_repository("https://git.example.com/team/repo.git")


def test_it_refuses_names_that_resolve_to_ipv6_forms_of_private_addresses(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _resolves_to("93.184.216.34", "64:ff9b::a00:7"))

    with pytest.raises(InvalidInput, match="host git.example.com is on a private network"):
        normalize_repository("https://git.example.com/team/repo.git")


@pytest.mark.parametrize("address", ["2606:2800:220:1::1", "64:ff9b::5db8:d822", "2002:5db8:d822::1", "::ffff:93.184.216.34"])
def test_ipv6_forms_of_public_addresses_stay_allowed(address):
    import ipaddress

    assert normalize_repository(f"https://[{address}]/x.git").url == f"https://[{ipaddress.IPv6Address(address)}]/x.git"


def test_it_accepts_hosts_that_resolve_to_public_addresses(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _resolves_to("93.184.216.34", "2606:2800:220:1::1"))

    assert normalize_repository("https://Git.Example.com/team/repo.git").url == "https://git.example.com/team/repo.git"


def test_a_slow_resolver_is_given_up_on(monkeypatch):
    monkeypatch.setattr(repository_input, "DNS_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: time.sleep(1))
    started = time.monotonic()

    with pytest.raises(InvalidInput, match="host git.example.com could not be resolved"):
        normalize_repository("https://git.example.com/team/repo.git")
    assert time.monotonic() - started < 0.9


def test_it_refuses_hosts_that_do_not_resolve(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _no_dns)

    with pytest.raises(InvalidInput, match="host git.example.com could not be resolved"):
        normalize_repository("https://git.example.com/team/repo.git")


def test_resolving_can_be_left_to_the_caller(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _unexpected_dns)

    assert (
        normalize_repository("https://git.example.com/repo.git", resolve=False).url
        == "https://git.example.com/repo.git"
    )
    with pytest.raises(InvalidInput, match="private network"):
        normalize_repository("https://10.0.0.1/repo.git", resolve=False)


def test_github_shorthand_needs_no_dns(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _unexpected_dns)

    assert normalize_repository("owner/name").github_full_name == "owner/name"
    assert normalize_repository("https://github.com/owner/name").github_full_name == "owner/name"


def test_private_networks_can_be_allowed(settings, monkeypatch):
    settings.NYXSYNC_ALLOW_PRIVATE_NETWORKS = True
    monkeypatch.setattr(socket, "getaddrinfo", _unexpected_dns)

    assert normalize_repository("https://10.1.2.3/repo.git").url == "https://10.1.2.3/repo.git"


def test_insecure_schemes_follow_the_setting(settings):
    settings.NYXSYNC_INSECURE_GIT_HOSTS = ["git.internal"]

    assert normalize_repository("git://git.internal/repo.git").url == "git://git.internal/repo.git"
    with pytest.raises(InvalidInput, match="only allowed for local test hosts"):
        normalize_repository("git://127.0.0.1/repo.git")


@pytest.mark.parametrize("name", GOOD_BRANCHES)
def test_it_accepts_good_branches(name):
    assert validate_branch(name) == name
    assert _git_accepts(name)


@pytest.mark.parametrize(("name", "message", "git_accepts"), HOSTILE_BRANCHES)
def test_it_refuses_hostile_branches(name, message, git_accepts):
    with pytest.raises(InvalidInput, match=re.escape(message)):
        validate_branch(name)
    # Where we are stricter than git, the table says so; everywhere else git agrees.
    if "\x00" not in name and not name.startswith("-"):
        assert _git_accepts(name) == git_accepts


@pytest.mark.parametrize("value", [None, 42, b"main"])
def test_it_refuses_values_that_are_not_text(value):
    with pytest.raises(InvalidInput, match="must be text"):
        validate_branch(value)
    with pytest.raises(InvalidInput, match="must be text"):
        normalize_repository(value)


def _git_accepts(name: str) -> bool:
    # Outside any repository, so "@{-1}" cannot pick up this checkout's history.
    result = subprocess.run(["git", "check-ref-format", "--branch", name], cwd="/", capture_output=True, check=False)
    return result.returncode == 0


def _resolves_to(*addresses: str):
    def getaddrinfo(host, port, *args, **kwargs):
        family = {True: socket.AF_INET6, False: socket.AF_INET}
        return [(family[":" in address], socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]

    return getaddrinfo


def _no_dns(*args, **kwargs):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def _unexpected_dns(*args, **kwargs):
    raise AssertionError("no DNS lookup expected")
