"""Independent implementations of the two DCI signature dialects, as the Python DCI stacks write them.

dci:          OpenSPP 2 (spp_dci/services/signing.py): digest = Base64(SHA-256(json.dumps({"header", "message"},
              sort_keys=True, separators=(",", ":")))), signing string "(created): c\n(expires): e\ndigest: d",
              Ed25519 or RSA-SHA256, cavage-style parameters in the body's `signature`.
jws-detached: OpenG2P: a compact JWS with a detached payload, the sorted-key compact JSON of {header, message}.

jwe:          DIGEST 7.5's EncryptedMessage, a flattened JWE with only the per-recipient header {alg, enc, kid}:
              RSA-OAEP-256 key wrapping, A256GCM content encryption, empty AAD.

Reads one JSON command on stdin, writes one JSON answer on stdout. Used by the tests only.
"""
import base64
import hashlib
import json
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
import os


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(envelope) -> bytes:
    return json.dumps({"header": envelope["header"], "message": envelope.get("message")}, sort_keys=True, separators=(",", ":")).encode()


def keys():
    ed = ed25519.Ed25519PrivateKey.generate()
    rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    re = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_raw = ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    n = rs.public_key().public_numbers()
    m = re.public_key().public_numbers()
    as_bytes = lambda i: i.to_bytes((i.bit_length() + 7) // 8, "big")
    pem = lambda k: k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return {
        "ed25519": {"pem": pem(ed), "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64url(ed_raw), "kid": "py-ed-1", "use": "sig", "alg": "EdDSA"}},
        "rsa": {"pem": pem(rs), "jwk": {"kty": "RSA", "n": b64url(as_bytes(n.n)), "e": b64url(as_bytes(n.e)), "kid": "py-rsa-1", "use": "sig", "alg": "RS256"}},
        # A partner's encryption key (`use: "enc"`).
        "rsa_enc": {"pem": pem(re), "jwk": {"kty": "RSA", "n": b64url(as_bytes(m.n)), "e": b64url(as_bytes(m.e)), "kid": "py-rsa-enc-1", "use": "enc", "alg": "RSA-OAEP-256"}},
    }


def sign_dci(cmd):
    key = serialization.load_pem_private_key(cmd["pem"].encode(), password=None)
    envelope = json.loads(cmd["envelope_text"])
    created = int(time.time()) + cmd.get("shift", 0)
    expires = created + 300
    digest = base64.b64encode(hashlib.sha256(canonical(envelope)).digest()).decode()
    signing_string = f"(created): {created}\n(expires): {expires}\ndigest: {digest}".encode()
    if isinstance(key, rsa.RSAPrivateKey):
        sig, algorithm = key.sign(signing_string, padding.PKCS1v15(), hashes.SHA256()), "rsa-sha256"
    else:
        sig, algorithm = key.sign(signing_string), "ed25519"
    envelope["signature"] = (
        f'namespace="dci", kidId="{cmd["sender"]}|{cmd["kid"]}|{algorithm}", algorithm="{algorithm}", created="{created}", '
        f'expires="{expires}", headers="(created) (expires) digest", signature="{base64.b64encode(sig).decode()}"'
    )
    # The body as a Python client sends it: json.dumps defaults (", " and ": " separators, non-ASCII escaped).
    return {"text": json.dumps(envelope)}


def sign_jws(cmd):
    key = serialization.load_pem_private_key(cmd["pem"].encode(), password=None)
    envelope = json.loads(cmd["envelope_text"])
    header = {"alg": cmd.get("alg", "RS256"), "kid": cmd["kid"]}
    protected = b64url(json.dumps(header, separators=(",", ":")).encode())
    signing_input = f"{protected}.{b64url(canonical(envelope))}".encode()
    if isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        sig = key.sign(signing_input)
    envelope["signature"] = f"{protected}..{b64url(sig)}"
    return {"text": json.dumps(envelope)}


def public_key(jwk):
    if jwk["kty"] == "OKP":
        return ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    return rsa.RSAPublicNumbers(int.from_bytes(b64url_decode(jwk["e"]), "big"), int.from_bytes(b64url_decode(jwk["n"]), "big")).public_key()


def verify(key, data: bytes, sig: bytes) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(sig, data)
        return True
    except Exception:
        return False


def verify_dci(cmd):
    envelope = json.loads(cmd["text"])
    params = dict(part.split("=", 1) for part in [p.strip() for p in envelope["signature"].split('",')])
    params = {k.strip(): v.strip().strip('"') for k, v in params.items()}
    digest = base64.b64encode(hashlib.sha256(canonical(envelope)).digest()).decode()
    signing_string = f"(created): {params['created']}\n(expires): {params['expires']}\ndigest: {digest}".encode()
    fresh = int(params["expires"]) > time.time()
    return {"valid": fresh and verify(public_key(cmd["jwk"]), signing_string, base64.b64decode(params["signature"])), "kidId": params["kidId"]}


def verify_jws(cmd):
    envelope = json.loads(cmd["text"])
    protected, _, sig = envelope["signature"].split(".")
    header = json.loads(b64url_decode(protected))
    signing_input = f"{protected}.{b64url(canonical(envelope))}".encode()
    return {"valid": verify(public_key(cmd["jwk"]), signing_input, b64url_decode(sig)), "header": header}


OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def jwe_encrypt(cmd):
    """Encrypts cmd["plaintext"] (a JSON value) to cmd["jwk"] (RSA, use enc), as an EncryptedMessage."""
    cek, iv = AESGCM.generate_key(bit_length=256), os.urandom(12)
    # With no protected header the AAD is the empty string (RFC 7516 5.1 step 14, ASCII(BASE64URL(""))).
    sealed = AESGCM(cek).encrypt(iv, json.dumps(cmd["plaintext"]).encode(), b"")
    return {
        "header": {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": cmd["jwk"]["kid"]},
        "encrypted_key": b64url(public_key(cmd["jwk"]).encrypt(cek, OAEP)),
        "iv": b64url(iv),
        "ciphertext": b64url(sealed[:-16]),
        "tag": b64url(sealed[-16:]),
    }


def jwe_decrypt(cmd):
    """Opens an EncryptedMessage with the RSA private key cmd["pem"]; answers the plaintext JSON value."""
    key = serialization.load_pem_private_key(cmd["pem"].encode(), password=None)
    jwe = cmd["jwe"]
    assert jwe["header"]["alg"] == "RSA-OAEP-256" and jwe["header"]["enc"] == "A256GCM"
    cek = key.decrypt(b64url_decode(jwe["encrypted_key"]), OAEP)
    clear = AESGCM(cek).decrypt(b64url_decode(jwe["iv"]), b64url_decode(jwe["ciphertext"]) + b64url_decode(jwe["tag"]), b"")
    return {"plaintext": json.loads(clear), "kid": jwe["header"]["kid"]}


if __name__ == "__main__":
    command = json.load(sys.stdin)
    handlers = {"keys": lambda c: keys(), "sign-dci": sign_dci, "sign-jws": sign_jws, "verify-dci": verify_dci, "verify-jws": verify_jws, "jwe-encrypt": jwe_encrypt, "jwe-decrypt": jwe_decrypt}
    json.dump(handlers[command["op"]](command), sys.stdout)
