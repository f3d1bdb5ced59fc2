"""Open311 XML rendering: parse the output back and check its shape."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.intake.open311.xml import Nested, errors_xml, object_to_xml, to_xml

CST = timezone(timedelta(hours=8))


def test_services_list() -> None:
    body = to_xml(
        "services",
        "service",
        [
            {
                "service_code": "001",
                "service_name": "路灯不亮",
                "description": "Street light out",
                "metadata": False,
                "type": "realtime",
                "keywords": "lighting, 路灯",
                "group": "street",
            }
        ],
    )
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?><services><service>')
    root = ET.fromstring(body)
    assert root.tag == "services"
    (service,) = root
    assert [c.tag for c in service] == [
        "service_code", "service_name", "description", "metadata", "type", "keywords", "group",
    ]  # fmt: skip
    assert service.findtext("service_code") == "001"
    assert service.findtext("service_name") == "路灯不亮"
    assert service.findtext("metadata") == "false"


def test_service_requests_values() -> None:
    when = datetime(2020, 5, 6, 10, 0, tzinfo=CST)
    body = to_xml(
        "service_requests",
        "request",
        [
            {
                "service_request_id": "LM-1",
                "status": "open",
                "status_notes": None,
                "description": "楼道里花盆乱放 & <堵路>\r\n第二行",
                "requested_datetime": when,
                "updated_datetime": when.astimezone(UTC),
                "lat": 39.119,
                "long": 117.193,
            },
            {"service_request_id": "LM-2", "status": "closed"},
        ],
    )
    root = ET.fromstring(body)
    first, second = root.findall("request")
    assert first.find("status_notes") is not None
    assert first.findtext("status_notes") == ""
    assert b"<status_notes></status_notes>" in body  # spec examples use start+end tags
    # Escaped text round-trips, CRLF included.
    assert first.findtext("description") == "楼道里花盆乱放 & <堵路>\r\n第二行"
    assert first.findtext("requested_datetime") == "2020-05-06T10:00:00+08:00"
    assert first.findtext("updated_datetime") == "2020-05-06T02:00:00+00:00"
    assert float(first.findtext("lat") or "nan") == 39.119
    assert second.findtext("status") == "closed"


def test_errors() -> None:
    root = ET.fromstring(errors_xml([(400, "service_code: unknown 'x'; valid codes: 001, 002")]))
    assert root.tag == "errors"
    (error,) = root
    assert error.tag == "error"
    assert error.findtext("code") == "400"
    assert "valid codes" in (error.findtext("description") or "")
    assert to_xml("errors", "error", [{"code": 404, "description": "not found"}]).count(b"<error>") == 1


def test_service_definition_with_nested_attributes() -> None:
    definition = {
        "service_code": "001",
        "attributes": Nested(
            "attributes",
            "attribute",
            [
                {
                    "variable": True,
                    "code": "LIGHT_TYPE",
                    "datatype": "singlevaluelist",
                    "required": True,
                    "datatype_description": None,
                    "order": 1,
                    "description": "What kind of light?",
                    "values": ("values", "value", [
                        {"key": "street", "name": "路灯"},
                        {"key": "corridor", "name": "楼道灯"},
                    ]),
                },
                {
                    "variable": True,
                    "code": "NOTE",
                    "datatype": "text",
                    "required": False,
                    "datatype_description": "Anything else",
                    "order": 2,
                    "description": "Note",
                },
            ],
        ),
    }  # fmt: skip
    root = ET.fromstring(object_to_xml("service_definition", definition))
    assert root.tag == "service_definition"
    assert [c.tag for c in root] == ["service_code", "attributes"]
    attrs = root.findall("attributes/attribute")
    assert len(attrs) == 2
    assert attrs[0].findtext("required") == "true"
    assert attrs[0].findtext("datatype_description") == ""
    assert attrs[1].findtext("required") == "false"
    values = attrs[0].findall("values/value")
    assert [(v.findtext("key"), v.findtext("name")) for v in values] == [
        ("street", "路灯"),
        ("corridor", "楼道灯"),
    ]


def test_nested_mapping_and_empty_list() -> None:
    root = ET.fromstring(to_xml("service_requests", "request", [{"id": 1, "extra": {"zipcode": None}}]))
    assert root.findtext("request/extra/zipcode") == ""
    assert ET.fromstring(to_xml("service_requests", "request", [])).tag == "service_requests"


def test_illegal_xml_characters_are_replaced_not_emitted() -> None:
    body = to_xml("errors", "error", [{"code": 400, "description": "bad\x00byte\x1b"}])
    assert ET.fromstring(body).findtext("error/description") == "bad\ufffdbyte\ufffd"


def test_rejects_what_cannot_be_rendered() -> None:
    with pytest.raises(ValueError, match="element name"):
        to_xml("services", "service", [{"bad tag": 1}])
    with pytest.raises(ValueError, match="zone"):
        to_xml("r", "i", [{"t": datetime(2020, 1, 1)}])
    with pytest.raises(TypeError, match="Nested"):
        to_xml("r", "i", [{"values": [1, 2]}])
    with pytest.raises(ValueError, match="nan"):
        to_xml("r", "i", [{"lat": float("nan")}])
