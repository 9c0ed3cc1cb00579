#!/usr/bin/python3
"""PyKMIP 0.10 client and OpenKCM's split keys (issue 13 §1). PyKMIP's client offers no
Create/Join Split Key, Archive, Recover or Certify call (its payload factory raises
NotImplementedError for their responses), but it registers and gets Split Key objects:

  register KEYHEX: XOR-splits the AES-256 key KEYHEX into two parts here, registers them as
                   Split Key objects and gets them back; prints the parts' identifiers.
  get UID...:      gets Split Key objects (made by the server's Create Split Key) and prints
                   their split fields and bytes.

Usage: pykmip_split.py HOST PORT CERT KEY CA VERSION(1.2..2.0) TAG MODE ARGS...
Prints one JSON object step -> outcome, like pykmip_client.py (whose helpers it uses).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kmip.core import enums  # noqa: E402
from kmip.pie import objects as pie_objects  # noqa: E402

from pykmip_client import make_step, open_client  # noqa: E402


def fields(k):
    return {
        "type": type(k).__name__, "parts": k.split_key_parts, "id": k.key_part_identifier,
        "threshold": k.split_key_threshold, "method": k.split_key_method.name,
        "algorithm": k.cryptographic_algorithm.name if k.cryptographic_algorithm else None,
        "length": k.cryptographic_length, "value": k.value.hex(),
    }


def main():
    host, port, cert, key, ca, version, tag, mode = sys.argv[1:9]
    args = sys.argv[9:]
    results = {}
    step = make_step(results)
    c = open_client(host, port, cert, key, ca, version)
    if mode == "register":
        secret = bytes.fromhex(args[0])
        p1 = os.urandom(len(secret))
        p2 = bytes(a ^ b for a, b in zip(secret, p1))
        uids = []
        for ident, part in ((1, p1), (2, p2)):
            sk = pie_objects.SplitKey(
                cryptographic_algorithm=enums.CryptographicAlgorithm.AES, cryptographic_length=256, key_value=part,
                name="split-%s-%s-%d" % (tag, version, ident), split_key_parts=2, key_part_identifier=ident,
                split_key_threshold=2, split_key_method=enums.SplitKeyMethod.XOR)
            r = step("register_part_%d" % ident, lambda: c.register(sk))
            if r.get("ok"):
                uids.append(r["value"])
                step("get_part_%d" % ident, lambda: fields(c.get(r["value"])))
        results["uids"] = {"ok": True, "value": uids}
    elif mode == "get":
        for i, uid in enumerate(args):
            step("get_%d" % i, lambda: fields(c.get(uid)))
    c.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
