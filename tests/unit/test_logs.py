"""The JSON log format keeps the access-log fields."""

from __future__ import annotations

import json
import logging

from imgserver.logs import JsonFormatter


def test_json_formatter_keeps_extra_fields() -> None:
    record = logging.makeLogRecord(
        {"name": "imgserver.access", "levelno": logging.INFO, "levelname": "INFO", "msg": "200 GET /x %s",
         "args": ("1.0ms",), "request_id": "abc", "status": 200, "phases_ms": {"render": 3.5}}
    )
    doc = json.loads(JsonFormatter().format(record))
    assert doc["message"] == "200 GET /x 1.0ms"
    assert doc["request_id"] == "abc"
    assert doc["status"] == 200
    assert doc["phases_ms"] == {"render": 3.5}
    assert doc["level"] == "info"
    assert doc["logger"] == "imgserver.access"


def test_text_formatter_matches_the_standard_format() -> None:
    from imgserver.logs import TextFormatter

    pattern = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
    ours = TextFormatter()  # one formatter: its per-second text must follow the records
    for created in (1700000000.123, 1700000000.999, 1700000001.0, 1700000000.5, 1700000061.25):
        record = logging.makeLogRecord({"name": "imgserver.access", "levelno": logging.INFO, "levelname": "INFO",
                                        "msg": "200 GET /x", "created": created, "msecs": (created % 1) * 1000})
        assert ours.format(record) == logging.Formatter(pattern).format(record)
