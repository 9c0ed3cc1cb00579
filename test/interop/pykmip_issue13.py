#!/usr/bin/python3
"""PyKMIP 0.10 client against OpenKCM for issue 13: the defects its own integration suite
shows (symmetric algorithms beyond AES, Attribute Index on 1.x Get Attributes, the 2.x
Attribute Reference with an empty Vendor Identification in delete_attribute). Prints one
JSON object step -> outcome, like pykmip_client.py (whose helpers it uses).

Usage: pykmip_issue13.py HOST PORT CERT KEY CA VERSION(1.0..2.0) TAG
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kmip.core import enums  # noqa: E402
from kmip.core import objects as core_objects  # noqa: E402

from pykmip_client import make_step, open_client, plain  # noqa: E402


def main():
    host, port, cert, key, ca, version, tag = sys.argv[1:8]
    results = {}
    step = make_step(results)
    c = open_client(host, port, cert, key, ca, version)
    masks = [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT]

    # The symmetric algorithms of PyKMIP's integration tests and the enumeration (issue 13 §2).
    A = enums.CryptographicAlgorithm
    for name, alg, length in [("idea", A.IDEA, 128), ("blowfish", A.BLOWFISH, 128), ("camellia", A.CAMELLIA, 256),
                              ("cast5", A.CAST5, 128), ("rc4", A.RC4, 128), ("twofish", A.TWOFISH, 256),
                              # PyKMIP counts 3DES parity bits (it checks length == bytes * 8)
                              ("tdes_2key", A.TRIPLE_DES, 128), ("tdes_3key", A.TRIPLE_DES, 192)]:
        uid = step("create_" + name, lambda: c.create(alg, length, cryptographic_usage_mask=masks))
        if uid.get("ok"):
            step("get_" + name, lambda: len(c.get(uid["value"]).value))

    # Attribute Index (1.4 s.2.1.1) of the single Name in a 1.x Get Attributes response.
    named = step("create_named", lambda: c.create(A.AES, 128, name="issue13-%s-%s" % (tag, version)))
    uid = named.get("value")

    def name_indexes():
        r = c.proxy.get_attributes(uid, ["Name"])
        return [{"name": plain(a.attribute_name), "index": plain(a.attribute_index)} for a in (r.attributes or [])]
    step("get_name_index", name_indexes)

    if version != "2.0":
        # 1.4 s.4.15: the 1.x Modify Attribute response repeats the Name with its index, 0 included.
        from kmip.core.factories import attributes as attribute_factories
        factory = attribute_factories.AttributeFactory()

        def modified():
            _, a = c.modify_attribute(unique_identifier=uid, attribute=factory.create_attribute(
                enums.AttributeType.NAME, "issue13-modified-%s-%s" % (tag, version), index=0))
            return {"name": plain(a.attribute_name), "index": plain(a.attribute_index),
                    "value": a.attribute_value.name_value.value}
        step("modify_name_v1", modified)

    if version == "2.0":
        # PyKMIP 0.10 names a standard attribute by a structure with an empty vendor.
        step("delete_name_empty_vendor", lambda: c.delete_attribute(
            uid, attribute_reference=core_objects.AttributeReference(vendor_identification="", attribute_name="Name"))[0])
    else:
        def deleted_v1():
            _, a = c.delete_attribute(uid, attribute_name="Name", attribute_index=0)
            return {"name": plain(a.attribute_name), "index": plain(a.attribute_index)}
        step("delete_name_v1", deleted_v1)
    step("names_after_delete", lambda: [plain(a.attribute_value) for a in c.get_attributes(uid, ["Name"])[1]])

    # A PKCS#1 RSAPrivateKey registered with Key Format Type PKCS#8, as PyKMIP's own
    # integration data does (issue 13 §5): kept, and labelled with the format it really has.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from kmip.pie import objects as pie_objects
    pk = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs1 = pk.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())
    mislabelled = pie_objects.PrivateKey(A.RSA, 2048, pkcs1, enums.KeyFormatType.PKCS_8,
                                         masks=[enums.CryptographicUsageMask.SIGN], name="issue13-pkcs1-%s-%s" % (tag, version))
    reg = step("register_pkcs1_as_pkcs8", lambda: c.register(mislabelled))
    if reg.get("ok"):
        def fetched():
            k = c.get(reg["value"])
            return {"format": plain(k.key_format_type), "same_bytes": k.value == pkcs1}
        step("get_pkcs1_as_pkcs8", fetched)

    # A key wrapped by the client under a key of its own ("client-kek", unknown to the server):
    # kept as registered and returned wrapped, its Key Wrapping Data intact (issue 13 §5).
    wrapped = pie_objects.SymmetricKey(
        A.AES, 128, bytes(range(24)), name="issue13-wrapped-%s-%s" % (tag, version),
        key_wrapping_data={
            "wrapping_method": enums.WrappingMethod.ENCRYPT,
            "encryption_key_information": {
                "unique_identifier": "client-kek",
                "cryptographic_parameters": {"block_cipher_mode": enums.BlockCipherMode.NIST_KEY_WRAP},
            },
            "encoding_option": enums.EncodingOption.NO_ENCODING,
        })
    wreg = step("register_wrapped_unknown_kek", lambda: c.register(wrapped))
    if wreg.get("ok"):
        def fetched_wrapped():
            k = c.get(wreg["value"])
            kwd = k.key_wrapping_data or {}
            eki = kwd.get("encryption_key_information") or {}
            return {"value": k.value.hex(), "method": plain(kwd.get("wrapping_method")), "kek": eki.get("unique_identifier"),
                    "mode": plain((eki.get("cryptographic_parameters") or {}).get("block_cipher_mode")),
                    "encoding": plain(kwd.get("encoding_option"))}
        step("get_wrapped_unknown_kek", fetched_wrapped)

    # An XOR part made by the client with threshold 2 of 3 parts, as PyKMIP's suite registers
    # it (KMIP s.2.2.5 ties no threshold to XOR): stored and returned as registered.
    part = pie_objects.SplitKey(
        cryptographic_algorithm=A.AES, cryptographic_length=128, key_value=bytes(range(16)),
        name="issue13-split-%s-%s" % (tag, version), cryptographic_usage_masks=[enums.CryptographicUsageMask.EXPORT],
        key_format_type=enums.KeyFormatType.RAW, split_key_parts=3, key_part_identifier=1,
        split_key_threshold=2, split_key_method=enums.SplitKeyMethod.XOR)
    sreg = step("register_xor_2_of_3", lambda: c.register(part))
    if sreg.get("ok"):
        def fetched_split():
            k = c.get(sreg["value"])
            return {"value": k.value.hex(), "parts": k.split_key_parts, "threshold": k.split_key_threshold}
        step("get_xor_2_of_3", fetched_split)

    # A refusal whose reason cites a spec section ("FIPS 197 s.5") reaches the client as a
    # readable Result Message (PyKMIP decodes Text Strings byte by byte: ASCII only).
    step("register_aes_512", lambda: c.register(pie_objects.SymmetricKey(A.AES, 512, bytes(64))))

    c.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
