#!/usr/bin/python3
"""PyKMIP 0.10 client against OpenKCM for issue 13 §5: two objects created with one Name
(as PyKMIP's integration suite and its pie objects' default Name do), then Locate by that Name.
Prints one JSON object step -> outcome, like pykmip_client.py (whose helpers it uses).

Usage: pykmip_names.py HOST PORT CERT KEY CA VERSION(1.0..2.0) NAME
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kmip.core import enums  # noqa: E402
from kmip.core.factories import attributes as attribute_factory  # noqa: E402

from pykmip_client import make_step, open_client  # noqa: E402


def main():
    host, port, cert, key, ca, version, name = sys.argv[1:8]
    results = {}
    step = make_step(results)
    c = open_client(host, port, cert, key, ca, version)
    masks = [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT]
    step("create_first", lambda: c.create(enums.CryptographicAlgorithm.AES, 256, name=name, cryptographic_usage_mask=masks))
    step("create_second", lambda: c.create(enums.CryptographicAlgorithm.AES, 128, name=name, cryptographic_usage_mask=masks))
    by_name = attribute_factory.AttributeFactory().create_attribute(enums.AttributeType.NAME, name)
    step("locate_by_name", lambda: sorted(c.locate(attributes=[by_name])))
    c.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
