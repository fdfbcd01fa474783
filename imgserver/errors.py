"""One tree of error types. Each carries an HTTP status and a short public message.

::

    ImgserverError                 (500: a bug; the message is never shown)
    ├── BadRequest                 400  malformed URL, filter or argument
    │   ├── UrlError
    │   ├── FilterError
    │   └── OutputTooLarge         requested output over the limits
    ├── Unauthorized               401  API call without a bearer token
    ├── Forbidden                  403  bad or missing signature, unsafe disabled, wrong token
    ├── NotFound                   404  no such source (also every refused path: no oracle)
    ├── SourceTooLarge             413  source bytes over the limit
    ├── UnsupportedSource          415  bytes are not an image format we accept
    ├── Unprocessable              422  undecodable, truncated, too many pixels or frames
    ├── Overloaded                 503  render queue full or waited too long (sends Retry-After)
    ├── ClientGone                 499  the client disconnected; nothing is written
    ├── UpstreamError              502  the source store failed
    └── UpstreamTimeout            504  the source store did not answer in time

Code raises these; exactly one place (the handlers' ``write_error``) turns them into a
status, a plain-text body and a log line. Never match on exception text.
"""

from __future__ import annotations


class ImgserverError(Exception):
    """Base of every error a request can end with."""

    status = 500
    public = "internal error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.public)
        self.message = message or self.public

    @property
    def public_message(self) -> str:
        """What the client sees; 5xx bugs never leak their text."""
        return self.message if self.status != 500 else ImgserverError.public


class BadRequest(ImgserverError):
    status = 400
    public = "bad request"


class UrlError(BadRequest):
    public = "malformed URL"


class FilterError(BadRequest):
    public = "malformed filter"


class OutputTooLarge(BadRequest):
    public = "requested size is over the limit"


class Unauthorized(ImgserverError):
    status = 401
    public = "authentication required"


class Forbidden(ImgserverError):
    status = 403
    public = "forbidden"


class NotFound(ImgserverError):
    status = 404
    public = "source image not found"


class SourceTooLarge(ImgserverError):
    status = 413
    public = "source image is too large"


class UnsupportedSource(ImgserverError):
    status = 415
    public = "source is not a supported image format"


class Unprocessable(ImgserverError):
    status = 422
    public = "source image cannot be processed"


class Overloaded(ImgserverError):
    status = 503
    public = "server busy, retry shortly"
    retry_after = 1


class ClientGone(ImgserverError):
    """The client closed the connection before its render started (nginx's 499)."""

    status = 499
    public = "client closed request"


class UpstreamError(ImgserverError):
    status = 502
    public = "source store failed"


class UpstreamTimeout(ImgserverError):
    status = 504
    public = "source store timed out"
