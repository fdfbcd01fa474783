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
