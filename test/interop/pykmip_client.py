#!/usr/bin/python3
"""Drives an OpenKCM server with PyKMIP's client (Debian python3-pykmip 0.10) at one KMIP
version and prints one JSON object: step name -> outcome. The vitest suite
(test/interop/pykmip.test.ts) starts the server, runs this once per version and asserts.

Usage: pykmip_client.py HOST PORT CERT KEY CA VERSION(1.0..2.0) TAG

Each outcome is {"ok": true, "value": ...} or, for a KMIP failure,
{"ok": false, "status": "...", "reason": "...", "reason_value": n, "message": "..."}, or
{"ok": false, "error": "<exception>"} when the client itself broke (decoding, TLS...).
Every step runs even when an earlier one failed, so one report shows everything.
"""
import json
import sys
import traceback

from kmip.core import enums
from kmip.core.factories import attributes as attribute_factories
from kmip.pie import client as pie_client
from kmip.pie import exceptions as pie_exceptions
from kmip.pie import objects

VERSIONS = {
    "1.0": enums.KMIPVersion.KMIP_1_0,
    "1.1": enums.KMIPVersion.KMIP_1_1,
    "1.2": enums.KMIPVersion.KMIP_1_2,
    "1.3": enums.KMIPVersion.KMIP_1_3,
    "1.4": enums.KMIPVersion.KMIP_1_4,
    "2.0": enums.KMIPVersion.KMIP_2_0,
}


def plain(value):
    """Makes PyKMIP values JSON-friendly."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if hasattr(value, "name") and hasattr(value, "value") and isinstance(getattr(value, "name"), str) \
            and type(value).__module__.endswith("enums"):
        return value.name
    if hasattr(value, "name_value"):  # Name
        return plain(value.name_value)
    if hasattr(value, "value"):
        return plain(value.value)
    return str(value)


def make_step(results):
    """step(name, fn): runs one client call and records its outcome under `name` in
    `results` ({"ok": true, "value"}, a KMIP failure with status/reason/message, or the
    client's own breakage with a trace). Every step runs, whatever the earlier ones did."""
    def step(name, fn):
        try:
            results[name] = {"ok": True, "value": plain(fn())}
        except pie_exceptions.KmipOperationFailure as e:
            results[name] = {
                "ok": False,
                "status": e.status.name if e.status is not None else None,
                "reason": e.reason.name if e.reason is not None else None,
                "reason_value": e.reason.value if e.reason is not None else None,
                "message": e.message,
            }
        except Exception as e:  # the client broke: decoding, TLS, protocol
            results[name] = {"ok": False, "error": "%s: %s" % (type(e).__name__, e),
                             "trace": traceback.format_exc(limit=3)}
        return results[name]
    return step


def open_client(host, port, cert, key, ca, version):
    """PyKMIP's ProxyKmipClient, opened over mutual TLS 1.2 at the given KMIP version, with no
    pykmip.conf read (every setting comes from the arguments)."""
    c = pie_client.ProxyKmipClient(
        hostname=host, port=int(port), cert=cert, key=key, ca=ca,
        ssl_version="PROTOCOL_TLSv1_2", config_file="/dev/null",
        kmip_version=VERSIONS[version])
    c.open()
    return c


def attributes_to_dict(attrs):
    out = {}
    for a in attrs:
        name = a.attribute_name.value
        out.setdefault(name, []).append(plain(a.attribute_value))
    return out


def main():
    host, port, cert, key, ca, version, tag = sys.argv[1:8]
    results = {}

    step = make_step(results)

    c = open_client(host, port, cert, key, ca, version)
    factory = attribute_factories.AttributeFactory()
    masks = [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT]
    key_name = "interop-%s-%s-key" % (tag, version)

    def raw(result):
        # The proxy layer returns result objects instead of raising.
        if result.result_status.value != enums.ResultStatus.SUCCESS:
            raise pie_exceptions.KmipOperationFailure(
                result.result_status.value,
                result.result_reason.value if result.result_reason else None,
                result.result_message.value if result.result_message else None)
        return result

    # Discover Versions exists since 1.1 (1.4 s.4.26); PyKMIP cannot even read a 1.0
    # failure answer to it (it dereferences the missing payload), so 1.0 leaves it out.
    if version != "1.0":
        step("discover_versions", lambda: [
            "%d.%d" % (v.major, v.minor) for v in raw(c.proxy.discover_versions()).protocol_versions])

    def query():
        r = raw(c.proxy.query(query_functions=[
            enums.QueryFunction.QUERY_OPERATIONS, enums.QueryFunction.QUERY_OBJECTS]))
        return {"operations": [plain(o) for o in (r.operations or [])],
                "object_types": [plain(o) for o in (r.object_types or [])]}
    step("query", query)

    created = step("create", lambda: c.create(
        enums.CryptographicAlgorithm.AES, 256, name=key_name, cryptographic_usage_mask=masks))
    uid = created.get("value")

    def get_attrs(names):
        def run():
            got_uid, attrs = c.get_attributes(uid, names)
            return {"uid": got_uid, "attributes": attributes_to_dict(attrs)}
        return run

    step("get_attributes", get_attrs(
        ["State", "Cryptographic Algorithm", "Cryptographic Length", "Name", "Object Type"]))
    step("get_attribute_list", lambda: sorted(c.get_attribute_list(uid)))
    step("get_created", lambda: {"type": type(c.get(uid)).__name__, "length": len(c.get(uid).value)})
    step("activate", lambda: c.activate(uid))
    step("activate_again", lambda: c.activate(uid))
    step("state_after_activate", get_attrs(["State"]))

    key_bytes = bytes(range(16))
    sym = objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 128, key_bytes, masks=masks,
                               name="interop-%s-%s-registered" % (tag, version))
    reg = step("register_symmetric", lambda: c.register(sym))
    step("get_registered_symmetric", lambda: c.get(reg.get("value")).value)

    secret_bytes = b"correct horse battery staple!!!!"
    secret = objects.SecretData(secret_bytes, enums.SecretDataType.PASSWORD,
                                masks=[enums.CryptographicUsageMask.DERIVE_KEY],
                                name="interop-%s-%s-secret" % (tag, version))
    sec = step("register_secret", lambda: c.register(secret))
    step("get_secret", lambda: c.get(sec.get("value")).value)

    def locate(name):
        return lambda: c.locate(attributes=[factory.create_attribute(enums.AttributeType.NAME, name)])
    step("locate_by_name", locate(key_name))
    step("locate_unknown_name", locate("interop-no-such-name-%s-%s" % (tag, version)))

    step("revoke", lambda: c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid))
    step("state_after_revoke", get_attrs(["State"]))
    step("destroy", lambda: c.destroy(uid))
    step("get_after_destroy", lambda: c.get(uid))
    step("destroy_registered", lambda: [c.destroy(reg.get("value")), c.destroy(sec.get("value"))])

    c.close()
    results["_expected"] = {"uid": uid, "registered_key": key_bytes.hex(), "secret": secret_bytes.hex()}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
