"""The one place that fetches or posts to a URL someone typed in (a feed source, a webhook
endpoint): only http(s), only public addresses, a deadline and a size limit.

Staff (or whoever gains a staff account) choose the URL and the worker fetches it, so the URL
must not reach the worker's own network: the cloud metadata address, a database port on
localhost, the office's intranet. The host is resolved here, every address it resolves to must
be public, and the connection goes to the address that was checked (a second lookup by the HTTP
library could return another one). Redirects are followed by hand, each new location checked
the same way. No proxy from the environment is used: it would connect on the worker's behalf.

``KANAL_OUTBOUND_ALLOWED_NETWORKS`` (empty by default, for tests that serve on 127.0.0.1) exempts
networks from the address check; nothing else does.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
USER_AGENT = "Kanal feed reader (+https://github.com/kanal)"


class FetchError(Exception):
    """Why a fetch failed; ``code`` is stored with the source, ``message`` shown to staff."""

    code = "error"
    message = _("The address could not be fetched.")

    def __init__(self, detail: str = ""):
        super().__init__(detail or str(self.message))
        self.detail = detail


class BadUrl(FetchError):
    code = "bad_url"
    message = _("The address is not a valid http or https URL, or its host does not exist.")


class PrivateAddress(FetchError):
    code = "private_address"
    message = _("The address leads to a private, loopback or link-local network; only public addresses are fetched.")


class FetchTimeout(FetchError):
    code = "timeout"
    message = _("The server did not answer in time.")


class TooBig(FetchError):
    code = "too_big"
    message = _("The response is larger than the size limit.")


class HttpError(FetchError):
    code = "http_error"
    message = _("The server answered with an error.")


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content: bytes
    content_type: str


def address_allowed(address: str) -> bool:
    """Whether the worker may connect to ``address``: public unicast, or in the test exemption."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for network in getattr(settings, "KANAL_OUTBOUND_ALLOWED_NETWORKS", ()):
        if ip in ipaddress.ip_network(network, strict=False):
            return True
    return ip.is_global and not ip.is_multicast


def _checked_address(host: str, port: int) -> str:
    """Resolve ``host``; refuse it when any of its addresses is not public. Returns the first."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise BadUrl(str(error)) from error
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise BadUrl(host)
    refused = [address for address in addresses if not address_allowed(address)]
    if refused:
        raise PrivateAddress(", ".join(refused))
    return addresses[0]


def refused_at_entry(url: str) -> bool:
    """Whether staff should be told at once that ``url`` can never be reached: its host is, or
    resolves now to, an address the worker refuses. A name that does not resolve yet passes; the
    check at each connection stays the one that counts."""
    host = urlsplit(url).hostname
    if not host:
        return False
    try:
        _checked_address(host, 443)
    except PrivateAddress:
        return True
    except BadUrl:
        return False
    return False


def _socket_open(address: str, port: int, timeout: float) -> socket.socket:
    sock = socket.create_connection((address, port), timeout)
    # http.client sends a request's headers and body in two writes; without this the body waits
    # for the server to acknowledge the headers, which on a reused connection it delays (40 ms).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address, whatever the host name resolves to by now. ``open_socket``
    stays set after http.client hands a closing connection's socket over to the response."""

    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = self.open_socket = _socket_open(self._address, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As above, with TLS checked against the host name."""

    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = _socket_open(self._address, self.port, self.timeout)
        self.sock = self.open_socket = self._context.wrap_socket(sock, server_hostname=self.host)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchTimeout()
    return left


@dataclass(frozen=True)
class Posted:
    status: int
    content: bytes  # the answer's first ``max_bytes`` bytes


def _target(url: str):
    """The checked parts of ``url`` and an unopened connection pinned to its checked address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise BadUrl(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise BadUrl(url) from error
    address = _checked_address(parts.hostname, port)
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return connection_class, parts.hostname, port, address, path


class Poster:
    """POSTs to one URL over one kept-alive connection, redirects not followed: the address is
    checked when the first connection opens, and every connection of this poster goes to that
    checked address. A connection the server closed is opened again; a POST that meets a closed
    reused connection before any answer is sent once more on a new one (the receiver may get it
    twice, as with any retry). Use as a context manager, or call ``close()``."""

    def __init__(self, url: str, *, timeout: float, max_bytes: int):
        self.url, self.timeout, self.max_bytes = url, timeout, max_bytes
        self.connections = 0  # opened so far
        self._target = None
        self._connection = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def post(self, *, body: bytes, headers: Mapping[str, str]) -> Posted:
        """POST ``body`` within ``timeout`` seconds; raises a ``FetchError`` subclass when there is no
        answer (the connection is closed then)."""
        deadline = time.monotonic() + self.timeout
        try:
            if self._target is None:
                self._target = _target(self.url)
            reused = self._connection is not None and self._connection.sock is not None
            try:
                return self._exchange(body, headers, deadline)
            except ConnectionError:
                if not reused:
                    raise
                self.close()
                return self._exchange(body, headers, deadline)
        except FetchError:
            self.close()
            raise
        except TimeoutError as error:
            self.close()
            raise FetchTimeout() from error
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise FetchError(f"{type(error).__name__}: {error}") from error

    def _exchange(self, body: bytes, headers: Mapping[str, str], deadline: float) -> Posted:
        connection_class, host, port, address, path = self._target
        if self._connection is None or self._connection.sock is None:
            self.close()
            self._connection = connection_class(host, port, address=address, timeout=_remaining(deadline))
            self.connections += 1
        else:
            self._connection.sock.settimeout(_remaining(deadline))
        self._connection.request("POST", path, body=body, headers={"User-Agent": USER_AGENT, **headers})
        if hasattr(socket, "TCP_QUICKACK"):
            # Many servers write an answer's headers and body apart; the body then waits for the
            # ACK of the headers, which Linux delays by 40 ms on a connection past its first
            # exchanges. Acknowledge at once (the kernel resets this, hence each time).
            self._connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        response = self._connection.getresponse()
        content = _read_limited(self._connection, response, max_bytes=self.max_bytes, deadline=deadline, cut=True)
        if response.length == 0:  # read to its end: the connection can carry the next request
            response.close()
        elif not response.isclosed():  # cut: the rest of the answer would come before the next one
            self.close()
        return Posted(status=response.status, content=content)


def fetch(url: str, *, max_bytes: int, timeout: float, accept: str = "*/*") -> Fetched:
    """GET ``url`` within ``timeout`` seconds in all (redirects and a slow trickle included),
    reading at most ``max_bytes``; raise a ``FetchError`` subclass otherwise."""
    deadline = time.monotonic() + timeout
    for _hop in range(MAX_REDIRECTS + 1):
        connection_class, host, port, address, path = _target(url)
        connection = connection_class(host, port, address=address, timeout=_remaining(deadline))
        try:
            connection.request(
                "GET", path, headers={"User-Agent": USER_AGENT, "Accept": accept, "Accept-Encoding": "identity"}
            )
            response = connection.getresponse()
            if response.status in REDIRECTS:
                location = response.getheader("Location")
                if not location:
                    raise HttpError(f"{response.status} without Location")
                url = urljoin(url, location)
                continue
            if not 200 <= response.status < 300:
                raise HttpError(f"{response.status} {response.reason}")
            length = response.getheader("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise TooBig(f"Content-Length {length} > {max_bytes}")
            content = _read_limited(connection, response, max_bytes=max_bytes, deadline=deadline)
            return Fetched(url=url, content=content, content_type=response.getheader("Content-Type", ""))
        except TimeoutError as error:
            raise FetchTimeout() from error
        except (OSError, http.client.HTTPException) as error:
            raise FetchError(f"{type(error).__name__}: {error}") from error
        finally:
            connection.close()
    raise HttpError(f"more than {MAX_REDIRECTS} redirects")


def _read_limited(connection, response, *, max_bytes: int, deadline: float, cut: bool = False) -> bytes:
    """Read the body a chunk at a time (one receive each, so a trickling server meets the
    deadline) and stop as soon as it passes ``max_bytes``: ``TooBig``, or with ``cut`` the first
    ``max_bytes`` bytes."""
    chunks, size = [], 0
    while True:
        connection.open_socket.settimeout(_remaining(deadline))
        chunk = response.read1(CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            if cut:
                chunks.append(chunk[: len(chunk) - (size - max_bytes)])
                return b"".join(chunks)
            raise TooBig(f"more than {max_bytes} bytes")
        chunks.append(chunk)
