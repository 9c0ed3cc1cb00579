#!/usr/bin/python3
"""PyKMIP's codec on the same bytes as bench/codec.ts (issue 2 section 7).

Reads a JSON list on stdin: [{"name": str, "kind": "request"|"response", "hex": str,
"seconds": float}, ...]. For each message it times read() into
kmip.core.messages.RequestMessage/ResponseMessage from a kmip.core.utils.BytearrayStream
and write() back to a fresh stream, and prints one JSON object per line:
{"name", "ops_per_sec", "iterations", "same_bytes"} where same_bytes says whether PyKMIP
wrote back exactly the bytes it read (so we know it parsed the whole message), or
{"name", "error"} when PyKMIP cannot read the message.

Run with the Debian interpreter (python3-pykmip is installed for /usr/bin/python3 only).
"""
import json
import sys
import time

from kmip.core import enums
from kmip.core.messages import contents, messages
from kmip.core.utils import BytearrayStream


def round_trip(kind, data):
    msg = messages.RequestMessage() if kind == "request" else messages.ResponseMessage()
    msg.read(BytearrayStream(data), kmip_version=enums.KMIPVersion.KMIP_1_0)
    header = msg.request_header if kind == "request" else msg.response_header
    # write() must use the version read() switched to for the payloads, as PyKMIP's own
    # server does; the header's Protocol Version says which.
    version = contents.protocol_version_to_kmip_version(header.protocol_version)
    out = BytearrayStream()
    msg.write(out, kmip_version=version)
    return out.buffer


def bench(case):
    data = bytes.fromhex(case["hex"])
    kind = case["kind"]
    seconds = float(case.get("seconds", 1.0))
    first = time.process_time()
    try:
        written = round_trip(kind, data)
    except Exception as e:  # report, do not crash the whole comparison
        return {"name": case["name"], "error": "%s: %s" % (type(e).__name__, e)}
    first = time.process_time() - first
    same = bytes(written) == data
    if first >= seconds:
        # One round trip already spent the budget (the 1 MiB message): that one is the figure.
        return {"name": case["name"], "ops_per_sec": 1 / first, "iterations": 1, "same_bytes": same}
    # The first round trip above was the warm-up. Then whole batches until the budget of
    # CPU time (process_time, as bench/codec.ts uses CPU time) is spent.
    iterations = 0
    batch = 1
    start = time.process_time()
    while True:
        for _ in range(batch):
            round_trip(kind, data)
        iterations += batch
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            break
        if elapsed < seconds / 10:
            batch *= 2
    return {
        "name": case["name"],
        "ops_per_sec": iterations / elapsed,
        "iterations": iterations,
        "same_bytes": same,
    }


def main():
    cases = json.load(sys.stdin)
    for case in cases:
        print(json.dumps(bench(case)), flush=True)


if __name__ == "__main__":
    main()
