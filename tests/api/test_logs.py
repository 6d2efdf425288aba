import logging

from api.logs import DropQueryStrings


def test_access_log_path_loses_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/api/v1/customers/by-identity?external_id=13812345678", "1.1", 200),
        None,
    )
    assert DropQueryStrings().filter(record)
    assert "13812345678" not in record.getMessage()
    assert "/api/v1/customers/by-identity" in record.getMessage()
