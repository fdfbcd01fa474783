"""Parsing S3 event notifications (pure): keys, kinds, envelopes, poison."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imgserver.errors import NotFound, Overloaded, Unprocessable, UnsupportedSource, UpstreamError
from imgserver.events import EventProcessor, ObjectEvent, PoisonMessage, is_permanent, parse_message, parse_records

pytestmark = pytest.mark.unit


def record(key: str, name: str = "ObjectCreated:Put", bucket: str = "originals") -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": name,
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 5}},
    }


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("photos/a.jpg", "photos/a.jpg"),
        ("photos%2Fa.jpg", "photos/a.jpg"),  # moto encodes the slash, AWS does not
        ("Dr+Smith.jpg", "Dr Smith.jpg"),  # '+' is a space
        ("a%2Bb.jpg", "a+b.jpg"),  # a real plus
        ("%C3%BCml%C3%A4ut+%D1%84%D0%BE%D1%82%D0%BE.jpg", "ümläut фото.jpg"),
        ("100%25.jpg", "100%.jpg"),
    ],
)
def test_keys_are_form_decoded(raw: str, decoded: str) -> None:
    [event] = parse_records([record(raw)])
    assert event.object_key == decoded


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ObjectCreated:Put", "created"),
        ("ObjectCreated:CompleteMultipartUpload", "created"),
        ("ObjectCreated:Copy", "created"),
        ("s3:ObjectCreated:Post", "created"),
        ("ObjectRemoved:Delete", "removed"),
        ("ObjectRemoved:DeleteMarkerCreated", "removed"),
        ("LifecycleExpiration:Delete", "removed"),
        ("ObjectTagging:Put", None),
        ("ObjectRestore:Completed", None),
    ],
)
def test_event_kinds(name: str, kind: str | None) -> None:
    [event] = parse_records([record("a.jpg", name)])
    assert event.kind == kind
    assert not event.name.startswith("s3:")


def test_messages() -> None:
    assert parse_message(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})) == []
    body = json.dumps({"Records": [record("a+b.jpg"), record("c.jpg", "ObjectRemoved:Delete")]})
    assert parse_message(body) == [
        ObjectEvent("created", "ObjectCreated:Put", "originals", "a b.jpg"),
        ObjectEvent("removed", "ObjectRemoved:Delete", "originals", "c.jpg"),
    ]
    sns = json.dumps({"Type": "Notification", "MessageId": "x", "Message": body})
    assert parse_message(sns) == parse_message(body)


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        '"text"',
        "{}",
        '{"Records": {}}',
        '{"Records": [1]}',
        json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}),
        json.dumps({"Records": [{**record("a.jpg"), "eventSource": "aws:sqs"}]}),
        json.dumps({"Records": [record("%FF%FE.jpg")]}),  # not UTF-8
        json.dumps({"Records": [{**record("a.jpg"), "s3": {"bucket": {"name": "b"}, "object": {"key": 5}}}]}),
    ],
)
def test_poison(body: str) -> None:
    with pytest.raises(PoisonMessage):
        parse_message(body)


def test_permanent_or_transient() -> None:
    assert is_permanent(PoisonMessage("x"))
    assert is_permanent(UnsupportedSource()) and is_permanent(Unprocessable())
    assert not is_permanent(UpstreamError()) and not is_permanent(Overloaded())
    assert not is_permanent(RuntimeError())
    assert is_permanent(NotFound())


@pytest.mark.parametrize(
    ("event", "key"),
    [
        (ObjectEvent("created", "ObjectCreated:Put", "originals", "tenant/a.jpg"), "a.jpg"),
        (ObjectEvent("removed", "ObjectRemoved:Delete", "originals", "tenant/x/y.png"), "x/y.png"),
        (ObjectEvent("created", "ObjectCreated:Put", "other", "tenant/a.jpg"), None),  # another bucket
        (ObjectEvent("created", "ObjectCreated:Put", "originals", "a.jpg"), None),  # outside the prefix
        (ObjectEvent("created", "ObjectCreated:Put", "originals", "tenant/../a.jpg"), None),
        (ObjectEvent("created", "ObjectCreated:Put", "originals", "tenant//a.jpg"), None),
        (ObjectEvent("created", "ObjectCreated:Put", "originals", "tenant/"), None),
        (ObjectEvent(None, "ObjectTagging:Put", "originals", "tenant/a.jpg"), None),
    ],
)
def test_image_key(event: ObjectEvent, key: str | None) -> None:
    processor = EventProcessor(None, "originals", "tenant/")  # type: ignore[arg-type]
    assert processor.image_key(event) == key
