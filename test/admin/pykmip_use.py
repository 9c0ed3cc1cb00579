#!/usr/bin/python3
"""Uses an OpenKCM server as an application would, with PyKMIP (Debian python3-pykmip 0.10)
and a pykmip.conf written from `kmipctl cert issue`. Prints one JSON object.

Usage: pykmip_use.py CONFIG_FILE SECTION
  {"ok": true, "uid": ..., "get": "SymmetricKey", "encrypted": n, "decrypted_ok": true}
  or {"ok": false, "step": ..., "error": "...", "reason": "..."} when a step fails.
"""
import json
import sys

from kmip.core import enums
from kmip.pie import client as pie_client
from kmip.pie import exceptions as pie_exceptions


def main():
    config_file, section = sys.argv[1], sys.argv[2]
    step = "open"
    try:
        with pie_client.ProxyKmipClient(config=section, config_file=config_file,
                                         kmip_version=enums.KMIPVersion.KMIP_1_2) as c:
            step = "create"
            uid = c.create(enums.CryptographicAlgorithm.AES, 256,
                           cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT,
                                                     enums.CryptographicUsageMask.DECRYPT])
            step = "activate"
            c.activate(uid)
            step = "get"
            key = c.get(uid)
            step = "encrypt"
            params = {"cryptographic_algorithm": enums.CryptographicAlgorithm.AES,
                      "block_cipher_mode": enums.BlockCipherMode.CBC,
                      "padding_method": enums.PaddingMethod.PKCS5}
            iv = b"\x01" * 16
            data, _ = c.encrypt(b"sixteen byte msg and more", uid=uid, cryptographic_parameters=params,
                                iv_counter_nonce=iv)
            step = "decrypt"
            plain = c.decrypt(data, uid=uid, cryptographic_parameters=params, iv_counter_nonce=iv)
            print(json.dumps({"ok": True, "uid": uid, "get": type(key).__name__, "encrypted": len(data),
                              "decrypted_ok": plain == b"sixteen byte msg and more"}))
    except pie_exceptions.KmipOperationFailure as e:
        print(json.dumps({"ok": False, "step": step, "error": str(e), "reason": e.reason.name if e.reason else None}))
    except Exception as e:  # TLS refusals, closed connections: the client itself failed
        print(json.dumps({"ok": False, "step": step, "error": "%s: %s" % (type(e).__name__, e), "reason": None}))


if __name__ == "__main__":
    main()
