#!/usr/bin/python3
"""Drives OpenKCM's cryptographic operations with PyKMIP's client (Debian python3-pykmip 0.10)
at one KMIP version and prints one JSON object: step name -> outcome, plus the values the
vitest suite (test/interop/pykmip.test.ts) needs for its known-answer checks (key bytes
fetched with Get, Python's own AES-CBC and HMAC-SHA256 results).

Usage: pykmip_crypto.py HOST PORT CERT KEY CA VERSION(1.2..2.0) TAG

Outcomes have the shape of pykmip_client.py's: {"ok": true, "value": ...}, or
{"ok": false, "status", "reason", "reason_value", "message"} for a KMIP failure, or
{"ok": false, "error", "trace"} when the client itself broke. Every step runs.

PyKMIP 0.10's client has no Hash, RNG Retrieve or MAC Verify call (kmip/pie/client.py and
kmip/services/kmip_client.py expose encrypt, decrypt, sign, signature_verify and mac only),
so those operations are not driven from here.
"""
import hashlib
import hmac
import json
import sys

from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kmip.core import enums
from kmip.pie import client as pie_client
from kmip.pie import objects

# The outcome recorder and value flattening are the per-version suite's (same folder,
# which Python puts on sys.path for a script).
from pykmip_client import make_step, plain

VERSIONS = {
    "1.2": enums.KMIPVersion.KMIP_1_2,
    "1.3": enums.KMIPVersion.KMIP_1_3,
    "1.4": enums.KMIPVersion.KMIP_1_4,
    "2.0": enums.KMIPVersion.KMIP_2_0,
}

M = enums.CryptographicUsageMask

# 37 bytes: not a multiple of the AES block, so PKCS#5 padding really pads.
PLAINTEXT = b"OpenKCM interop: attack at dawn, 37b."
CLIENT_IV = bytes(range(0xA0, 0xB0))
SIGNED = b"The message PyKMIP asks OpenKCM to sign with RSA-2048."
MACED = b"The message PyKMIP asks OpenKCM to authenticate with HMAC-SHA256."

CBC_PKCS5 = {
    "cryptographic_algorithm": enums.CryptographicAlgorithm.AES,
    "block_cipher_mode": enums.BlockCipherMode.CBC,
    "padding_method": enums.PaddingMethod.PKCS5,
}


def local_cbc_decrypt(key, iv, ciphertext):
    """Python's own AES-CBC and PKCS#7 unpadding (PKCS#5 for 16-byte blocks)."""
    d = Cipher(algorithms.AES(key), modes.CBC(iv), backend=default_backend()).decryptor()
    padded = d.update(ciphertext) + d.finalize()
    u = sym_padding.PKCS7(128).unpadder()
    return u.update(padded) + u.finalize()


def local_cbc_encrypt(key, iv, plaintext):
    p = sym_padding.PKCS7(128).padder()
    padded = p.update(plaintext) + p.finalize()
    e = Cipher(algorithms.AES(key), modes.CBC(iv), backend=default_backend()).encryptor()
    return e.update(padded) + e.finalize()


def main():
    host, port, cert, key, ca, version, tag = sys.argv[1:8]
    results = {}

    step = make_step(results)

    def value(name):
        o = results.get(name, {})
        return o.get("value") if o.get("ok") else None

    def unhex(name):
        v = value(name)
        return bytes.fromhex(v) if isinstance(v, str) else None

    c = pie_client.ProxyKmipClient(
        hostname=host, port=int(port), cert=cert, key=key, ca=ca,
        ssl_version="PROTOCOL_TLSv1_2", config_file="/dev/null",
        kmip_version=VERSIONS[version])
    c.open()
    prefix = "interop-%s-%s" % (tag, version)

    # --- AES-256-CBC-PKCS5 -------------------------------------------------------------
    step("aes_create", lambda: c.create(enums.CryptographicAlgorithm.AES, 256, name=prefix + "-aes",
                                        cryptographic_usage_mask=[M.ENCRYPT, M.DECRYPT]))
    aes = value("aes_create")
    step("aes_activate", lambda: c.activate(aes))
    step("aes_key", lambda: c.get(aes).value)

    # Server-chosen IV: no IV in the request, Random IV asked for (s.6.1.17: the server
    # generates the IV and returns it in IV/Counter/Nonce).
    def encrypt_server_iv():
        data, iv = c.encrypt(PLAINTEXT, uid=aes, cryptographic_parameters=dict(CBC_PKCS5, random_iv=True))
        return {"data": data, "iv": iv}
    step("encrypt_server_iv", encrypt_server_iv)

    def local_decrypt_server_iv():
        out = value("encrypt_server_iv")
        k = unhex("aes_key")
        if not out or out.get("iv") is None or k is None:
            raise ValueError("nothing to decrypt: the server returned no ciphertext or no IV")
        return local_cbc_decrypt(k, bytes.fromhex(out["iv"]), bytes.fromhex(out["data"]))
    step("python_decrypt_server_iv", local_decrypt_server_iv)

    def server_decrypt_server_iv():
        out = value("encrypt_server_iv")
        return c.decrypt(bytes.fromhex(out["data"]), uid=aes, cryptographic_parameters=CBC_PKCS5,
                         iv_counter_nonce=bytes.fromhex(out["iv"]))
    step("decrypt_server_iv", server_decrypt_server_iv)

    # Client IV: the ciphertext is then fully determined by key, IV and data.
    def encrypt_client_iv():
        data, iv = c.encrypt(PLAINTEXT, uid=aes, cryptographic_parameters=CBC_PKCS5, iv_counter_nonce=CLIENT_IV)
        return {"data": data, "iv": iv}
    step("encrypt_client_iv", encrypt_client_iv)
    step("decrypt_client_iv", lambda: c.decrypt(
        bytes.fromhex(value("encrypt_client_iv")["data"]), uid=aes, cryptographic_parameters=CBC_PKCS5,
        iv_counter_nonce=CLIENT_IV))
    # A ciphertext that is not a whole number of blocks cannot be CBC: the server must refuse it.
    step("decrypt_truncated", lambda: c.decrypt(
        bytes.fromhex(value("encrypt_client_iv")["data"])[:-1], uid=aes, cryptographic_parameters=CBC_PKCS5,
        iv_counter_nonce=CLIENT_IV))

    # A key the client knows, allowed to Decrypt only. (Create cannot make one: PyKMIP's
    # create() always adds Encrypt and Decrypt to the mask it is given.) Python encrypts
    # locally, the server must decrypt it; Encrypt with that key must be refused (usage mask).
    known_key = bytes(range(0x40, 0x60))
    step("aes_known_register", lambda: c.register(objects.SymmetricKey(
        enums.CryptographicAlgorithm.AES, 256, known_key, masks=[M.DECRYPT], name=prefix + "-aes-decrypt-only")))
    decrypt_only = value("aes_known_register")
    step("aes_known_activate", lambda: c.activate(decrypt_only))
    local_ct = local_cbc_encrypt(known_key, CLIENT_IV, PLAINTEXT)
    step("decrypt_python_ciphertext", lambda: c.decrypt(local_ct, uid=decrypt_only, cryptographic_parameters=CBC_PKCS5,
                                                        iv_counter_nonce=CLIENT_IV))
    step("encrypt_without_usage", lambda: c.encrypt(PLAINTEXT, uid=decrypt_only, cryptographic_parameters=CBC_PKCS5,
                                                    iv_counter_nonce=CLIENT_IV))

    # --- RSA-2048 Sign / Signature Verify ---------------------------------------------
    step("rsa_create", lambda: list(c.create_key_pair(
        enums.CryptographicAlgorithm.RSA, 2048,
        public_name=prefix + "-rsa-public", public_usage_mask=[M.VERIFY],
        private_name=prefix + "-rsa-private", private_usage_mask=[M.SIGN])))
    pair = value("rsa_create") or [None, None]
    public, private = pair[0], pair[1]
    step("rsa_activate", lambda: [c.activate(public), c.activate(private)])
    step("rsa_public_key", lambda: {"value": c.get(public).value,
                                    "format": c.get(public).key_format_type})

    schemes = {
        "pkcs1": {"cryptographic_algorithm": enums.CryptographicAlgorithm.RSA,
                  "padding_method": enums.PaddingMethod.PKCS1v15,
                  "hashing_algorithm": enums.HashingAlgorithm.SHA_256},
        "pss": {"cryptographic_algorithm": enums.CryptographicAlgorithm.RSA,
                "padding_method": enums.PaddingMethod.PSS,
                "hashing_algorithm": enums.HashingAlgorithm.SHA_256},
    }
    for scheme, params in schemes.items():
        step("sign_" + scheme, lambda params=params: c.sign(SIGNED, uid=private, cryptographic_parameters=params))
        sig = unhex("sign_" + scheme)
        step("verify_" + scheme, lambda params=params, sig=sig: c.signature_verify(
            SIGNED, sig, uid=public, cryptographic_parameters=params))
        altered = SIGNED[:-1] + bytes([SIGNED[-1] ^ 1])
        step("verify_altered_" + scheme, lambda params=params, sig=sig: c.signature_verify(
            altered, sig, uid=public, cryptographic_parameters=params))
    # Signing with the public key is a usage the key does not have.
    step("sign_with_public", lambda: c.sign(SIGNED, uid=public, cryptographic_parameters=schemes["pkcs1"]))

    # --- HMAC-SHA256 ------------------------------------------------------------------
    step("hmac_create", lambda: c.create(enums.CryptographicAlgorithm.HMAC_SHA256, 256, name=prefix + "-hmac",
                                         cryptographic_usage_mask=[M.MAC_GENERATE, M.MAC_VERIFY]))
    hk = value("hmac_create")
    step("hmac_activate", lambda: c.activate(hk))
    step("hmac_key", lambda: c.get(hk).value)

    def mac():
        got_uid, mac_data = c.mac(MACED, uid=hk, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)
        return {"uid": got_uid, "mac": mac_data}
    step("mac", mac)

    def python_hmac():
        k = unhex("hmac_key")
        if k is None:
            raise ValueError("no HMAC key: Get failed")
        return hmac.new(k, MACED, hashlib.sha256).digest()
    step("python_hmac", python_hmac)

    step("destroy_all", lambda: [
        [c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, u), c.destroy(u)]
        for u in (aes, decrypt_only, public, private, hk)])

    c.close()
    results["_input"] = {
        "plaintext": PLAINTEXT.hex(), "client_iv": CLIENT_IV.hex(), "signed": SIGNED.hex(), "maced": MACED.hex(),
        "aes": aes, "decrypt_only": decrypt_only, "public": public, "private": private, "hmac": hk,
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
