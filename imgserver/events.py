"""S3 event notifications → the one ``ingest``: shared by ``imgserver worker`` (SQS) and the
AWS Lambda entry point.

Parsing is pure. A notification message is one of::

    {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                  "s3": {"bucket": {"name": …}, "object": {"key": "a+b%2Fc.jpg", …}}}, …]}
    {"Service": "Amazon S3", "Event": "s3:TestEvent", …}      sent when notifications are set up
    {"Type": "Notification", "Message": "<one of the above>"}  via SNS without raw delivery

Object keys in records are form-encoded (``+`` for a space, ``%XX`` for UTF-8 bytes) and are
decoded here. Anything else is a :class:`PoisonMessage`.

Applying an event converges to the bucket's *current* state, so duplicates, redeliveries and
out-of-order events are harmless: a creation reads the object as it is now and ingests it
(idempotently: a second event is "already present"); a removal deletes the metadata only if
the object is really gone (a removal older than a new write of the same key changes nothing).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_plus

from imgserver.errors import ImgserverError, NotFound, SourceTooLarge
from imgserver.ingest import Ingestor
from imgserver.storage.objects import check_name

log = logging.getLogger("imgserver.events")

Kind = Literal["created", "removed"]
#: ingested: metadata written · present: already complete · removed: metadata deleted ·
#: ignored: not an event for this store (other bucket, outside the prefix, other event type,
#: a key no original can have) · gone: created, then deleted before we read it · stale: a
#: removal of a key that has been written again since.
Outcome = Literal["ingested", "present", "removed", "ignored", "gone", "stale"]

#: Recorded as the uploader of originals that arrived by an S3 event.
EVENT_UPLOADER = "s3-event"


class PoisonMessage(ValueError):
    """A message that is not an S3 notification we can read (bad JSON, wrong shape, a key
    that is not valid UTF-8). Retrying cannot help."""


@dataclass(frozen=True)
class ObjectEvent:
    #: ``created``, ``removed``, or None for events that change nothing we keep.
    kind: Kind | None
    #: S3's own name without the ``s3:`` prefix, e.g. ``ObjectCreated:Put``.
    name: str
    bucket: str
    #: The object key, decoded.
    object_key: str


def decode_key(raw: str) -> str:
    """An S3 event's object key: form-decoded (``+`` is a space, ``%2B`` a plus), UTF-8."""
    try:
        return unquote_plus(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise PoisonMessage(f"object key {raw[:80]!r} is not URL-encoded UTF-8") from None


def kind_of(event_name: str) -> Kind | None:
    name = event_name.removeprefix("s3:")
    if name.startswith("ObjectCreated:"):
        return "created"
    if name.startswith(("ObjectRemoved:", "LifecycleExpiration:")):
        return "removed"
    return None


def parse_records(records: Any) -> list[ObjectEvent]:
    """The S3 records of a notification (or of a Lambda event invoked by S3)."""
    if not isinstance(records, list):
        raise PoisonMessage("Records is not a list")
    events = []
    for record in records:
        try:
            name = str(record["eventName"])
            bucket = str(record["s3"]["bucket"]["name"])
            raw_key = record["s3"]["object"]["key"]
        except (KeyError, TypeError):
            raise PoisonMessage("a record lacks eventName, s3.bucket.name or s3.object.key") from None
        if record.get("eventSource", "aws:s3") != "aws:s3" or not isinstance(raw_key, str):
            raise PoisonMessage(f"not an S3 record: {str(record.get('eventSource'))[:40]!r}")
        events.append(ObjectEvent(kind_of(name), name.removeprefix("s3:"), bucket, decode_key(raw_key)))
    return events


def parse_message(body: str) -> list[ObjectEvent]:
    """The events of one queue message; ``[]`` for S3's ``s3:TestEvent``. Raises PoisonMessage."""
    try:
        data = json.loads(body)
    except ValueError:
        raise PoisonMessage("message body is not JSON") from None
    if not isinstance(data, dict):
        raise PoisonMessage("message body is not a JSON object")
    if data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        return parse_message(data["Message"])  # S3 → SNS → SQS without raw message delivery
    if data.get("Event") == "s3:TestEvent":
        return []
    if "Records" not in data:
        raise PoisonMessage("message has no Records")
    return parse_records(data["Records"])


def is_permanent(exc: BaseException) -> bool:
    """A failure that retrying the same event cannot fix: an unreadable message, or the
    object itself refused (4xx: not an image, undecodable, too big or too small)."""
    return isinstance(exc, PoisonMessage) or (isinstance(exc, ImgserverError) and 400 <= exc.status < 500)


class EventProcessor:
    """Applies events of ``bucket`` (object keys under ``prefix``) to ``ingestor``'s stores."""

    def __init__(self, ingestor: Ingestor, bucket: str, prefix: str = "", max_bytes: int | None = None) -> None:
        self.ingestor = ingestor
        self.bucket = bucket
        self.prefix = prefix
        self.max_bytes = max_bytes

    def image_key(self, event: ObjectEvent) -> str | None:
        """The image key of an event's object, or None when the event is not ours."""
        if event.kind is None or event.bucket != self.bucket or not event.object_key.startswith(self.prefix):
            return None
        key = event.object_key[len(self.prefix):]
        try:
            return check_name(key)
        except NotFound:
            return None

    async def apply(self, event: ObjectEvent) -> Outcome:
        """Bring the metadata of ``event``'s object up to date. Raises ImgserverError:
        4xx for objects ingest refuses (permanent), 5xx for store faults (worth a retry)."""
        key = self.image_key(event)
        if key is None:
            log.info("ignored %s s3://%s/%s", event.name, event.bucket, event.object_key)
            return "ignored"
        if event.kind == "created":
            data = await self.ingestor.originals.get(key)
            if data is None:
                log.info("gone %s: deleted before it was read; its removal event cleans up", key)
                return "gone"
            if self.max_bytes is not None and len(data) > self.max_bytes:
                raise SourceTooLarge(f"{key} is {len(data)} bytes, over the limit of {self.max_bytes}")
            result = await self.ingestor.ingest(data, key, EVENT_UPLOADER, "event", key=key)
            log.info("%s %s", "ingested" if result.created else "already present", key)
            return "ingested" if result.created else "present"
        if await self.ingestor.originals.exists(key):
            log.info("stale removal of %s: the object has been written again; metadata kept", key)
            return "stale"
        await self.ingestor.remove(key, original=False)
        log.info("removed metadata of %s", key)
        return "removed"
