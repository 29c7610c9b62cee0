"""Why a connection or a response body failed, in fixed phrases a page translates
(docs/result-messages.md): the certificate problems OpenSSL reports by number, a receiver that
does not speak TLS, the errno of a failed connection, a body the receiver cut off. A reason
not known here keeps the network library's own words."""

import errno
import ssl
from collections.abc import Iterator

import aiohttp
from aiohttp import http_exceptions

from webhooks.i18n import N_

UNTRUSTED = N_("the certificate is not signed by a trusted authority")
NOT_TLS = N_("the receiver does not speak TLS on this port (is the URL meant to be http://?)")
BODY_CUT = N_("the receiver closed the connection before the body ended")
UNDECODABLE = N_("its compressed body could not be decoded")

# OpenSSL's X509_V_ERR_* numbers (x509_vfy.h), as ssl.SSLCertVerificationError.verify_code.
CERTIFICATE = {
    2: UNTRUSTED,  # unable to get issuer certificate
    9: N_("the certificate is not valid yet"),
    10: N_("the certificate has expired"),
    18: N_("the certificate is self-signed"),
    19: N_("the certificate chain ends in a self-signed certificate that is not trusted"),
    20: UNTRUSTED,  # unable to get local issuer certificate
    21: UNTRUSTED,  # unable to verify the first certificate
    23: N_("the certificate has been revoked"),
    62: N_("the certificate is not valid for this host name"),
    64: N_("the certificate is not valid for this IP address"),
}

# OpenSSL's reason for a handshake that failed, as ssl.SSLError.reason.
HANDSHAKE = {
    "WRONG_VERSION_NUMBER": NOT_TLS,
    "RECORD_LAYER_FAILURE": NOT_TLS,
    "HTTP_REQUEST": NOT_TLS,
    "UNEXPECTED_EOF_WHILE_READING": N_("the receiver closed the connection during the handshake"),
    "TLSV1_ALERT_PROTOCOL_VERSION": N_("the receiver and this service share no TLS version"),
    "UNSUPPORTED_PROTOCOL": N_("the receiver and this service share no TLS version"),
    "SSLV3_ALERT_HANDSHAKE_FAILURE": N_("the receiver refused the TLS handshake"),
    "TLSV1_ALERT_INTERNAL_ERROR": N_("the receiver refused the TLS handshake"),
    "TLSV1_UNRECOGNIZED_NAME": N_("the receiver has no certificate for this host name"),
}

# The errno of a connection that failed other than by being refused.
CONNECTION = {
    errno.ECONNRESET: N_("the receiver reset the connection"),
    errno.ECONNABORTED: N_("the connection was aborted"),
    errno.EPIPE: N_("the receiver closed the connection while the request was being sent"),
    errno.EHOSTUNREACH: N_("no route to the host"),
    errno.ENETUNREACH: N_("the network is unreachable"),
    errno.ETIMEDOUT: N_("the connection timed out"),
}

PHRASES = frozenset(
    (*CERTIFICATE.values(), *HANDSHAKE.values(), *CONNECTION.values(), BODY_CUT, UNDECODABLE)
)


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception inside it: causes, contexts and exceptions carried as
    arguments (aiohttp keeps the OSError of a failed connection as one)."""
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [
            current.__cause__,
            current.__context__,
            getattr(current, "certificate_error", None),
        ]
        nested += [arg for arg in current.args if isinstance(arg, BaseException)]
        stack.extend(item for item in nested if isinstance(item, BaseException))


def tls_detail(error: BaseException) -> str:
    """Why a TLS handshake failed."""
    for cause in causes(error):
        # aiohttp's own errors are ssl.SSLError too, without OpenSSL's numbers and reasons.
        if getattr(cause, "verify_code", None) in CERTIFICATE:
            return CERTIFICATE[cause.verify_code]
        if getattr(cause, "reason", None) in HANDSHAKE:
            return HANDSHAKE[cause.reason]
    innermost = [cause for cause in causes(error) if isinstance(cause, ssl.SSLError)]
    return str(innermost[-1] if innermost else error)


def connection_detail(error: BaseException) -> str:
    """Why a connection failed (not refused, not TLS)."""
    for cause in causes(error):
        if isinstance(cause, OSError) and cause.errno in CONNECTION:
            return CONNECTION[cause.errno]
    return str(error)


def body_detail(error: BaseException) -> str:
    """Why a response body could not be read to its end."""
    for cause in causes(error):
        if isinstance(
            cause,
            http_exceptions.ContentLengthError
            | http_exceptions.TransferEncodingError
            | aiohttp.ServerDisconnectedError
            | ConnectionResetError,
        ):
            return BODY_CUT
        if isinstance(cause, http_exceptions.ContentEncodingError):
            return UNDECODABLE
    return connection_detail(error)
