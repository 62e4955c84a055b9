#!/usr/bin/env python3
"""Regenerates the hostile-input corpus in this directory and its index,
README.md (one line per file: file | command | expected | what it is).

Needs python3 with `cryptography` and openssl. Deterministic where the
formats allow (fixed seeds for garbage); keys and signatures differ per
run, which the tests do not depend on. Run: python3 make.py
"""
import base64, os, random, subprocess, sys, tempfile
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, dsa, ed448, padding
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
os.chdir(HERE)
rng = random.Random(20261123)
INDEX = []  # (file, command, expect, description)


def put(name, data, command, expect, what):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(name, mode, **({} if isinstance(data, bytes) else {"newline": ""})) as f:
        f.write(data)
    INDEX.append((name, command, expect, what))


def pem(label, der):
    b = base64.encodebytes(der).decode().replace("\n", "")
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def sh(*args, input=None):
    return subprocess.run(args, check=True, capture_output=True, input=input).stdout


def name(cn):
    # _validate=False: hostile names (too long, NUL bytes) are the point.
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn, _validate=False)])


def csr(key, cn="hostile-device", sans=None, algo=hashes.SHA256()):
    b = x509.CertificateSigningRequestBuilder().subject_name(name(cn))
    if sans is not None:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(key, algo).public_bytes(serialization.Encoding.DER)


p256 = ec.generate_private_key(ec.SECP256R1())
good_csr = csr(p256)

# --- DER surgery helpers -------------------------------------------------
def tlv(data, i=0):
    """(tag, header_len, content_len) of the TLV at data[i:]."""
    tag = data[i]
    l = data[i + 1]
    if l < 0x80:
        return tag, 2, l
    n = l & 0x7F
    return tag, 2 + n, int.from_bytes(data[i + 2:i + 2 + n], "big")


def enc(tag, content):
    n = len(content)
    if n < 0x80:
        l = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        l = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + l + content


def children(data):
    out, i = [], 0
    while i < len(data):
        t, h, l = tlv(data, i)
        out.append(data[i:i + h + l])
        i += h + l
    return out


def content(der):
    t, h, l = tlv(der)
    return der[h:h + l]


def flip_last_sig_byte(der):
    b = bytearray(der)
    b[-3] ^= 0x55
    return bytes(b)


# --- CSRs (fed to `sign`) -------------------------------------------------
put("csr-truncated.pem", pem("CERTIFICATE REQUEST", good_csr)[:200], "sign", "error", "a valid CSR's PEM cut off after 200 bytes")
put("csr-garbage.pem", pem("CERTIFICATE REQUEST", bytes(rng.randrange(256) for _ in range(300))), "sign", "error", "random bytes inside CERTIFICATE REQUEST armour")
put("csr-bad-base64.pem", "-----BEGIN CERTIFICATE REQUEST-----\nMIIB!!notbase64$$$\n-----END CERTIFICATE REQUEST-----\n", "sign", "error", "PEM whose body is not base64")
put("csr-wrong-label.pem", pem("CERTIFICATE", good_csr), "sign", "error", "a CSR under a CERTIFICATE label")
put("csr-private-key-label.pem", p256.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(), "sign", "error", "a private key where a CSR is expected")
put("csr-empty.pem", "", "sign", "error", "an empty file")
put("csr-armour-only.pem", "-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n", "sign", "error", "PEM armour with nothing inside")
bad_sig = flip_last_sig_byte(good_csr)
put("csr-bad-signature.pem", pem("CERTIFICATE REQUEST", bad_sig), "sign", "error", "a CSR whose signature has a flipped byte")
altered = good_csr.replace(b"hostile-device", b"hostile-devicf")
put("csr-altered-subject.pem", pem("CERTIFICATE REQUEST", altered), "sign", "error", "a CSR whose CN was changed after signing")
put("csr-trailing-bytes.der", good_csr + b"\x00\x01trailing", "sign", "error", "a DER CSR followed by junk bytes")
put("csr-truncated.der", good_csr[:-20], "sign", "error", "a DER CSR missing its last 20 bytes (DER where PEM would be usual)")
put("csr-utf16.pem", pem("CERTIFICATE REQUEST", good_csr).encode("utf-16"), "sign", "error", "a PEM CSR saved as UTF-16")
sans10k = [x509.DNSName(f"d{i}.hostile.example") for i in range(10000)]
put("csr-10000-sans.pem", pem("CERTIFICATE REQUEST", csr(p256, sans=sans10k)), "sign", "error", "a validly signed CSR with 10,000 DNS SANs (~250 KB)")
big = csr(p256, cn="x" * 64, sans=[x509.DNSName("a" * 60 + f".{i}.example") for i in range(1500)])
put("csr-absurd-size.der", big, "sign", "error", "a validly signed 100 KB CSR (1,500 long SANs)")
put("csr-nul-in-cn.pem", pem("CERTIFICATE REQUEST", csr(p256, cn="dev\x00evil")), "sign", "error", "a validly signed CSR whose CN holds a NUL byte")
put("csr-nul-in-san.pem", pem("CERTIFICATE REQUEST", csr(p256, cn="nulsan", sans=[x509.DNSName("good.example\x00.evil.example")])), "sign", "error", "a validly signed CSR whose DNS SAN holds a NUL byte")
put("csr-ansi-escape-cn.pem", pem("CERTIFICATE REQUEST", csr(p256, cn="dev\x1b[31mred")), "sign", "error", "a CSR whose CN carries a terminal escape sequence")
put("csr-long-cn.pem", pem("CERTIFICATE REQUEST", csr(p256, cn="c" * 5000)), "sign", "error", "a CSR with a 5,000-character CN")
put("csr-rsa-1024.pem", pem("CERTIFICATE REQUEST", csr(rsa.generate_private_key(65537, 1024))), "sign", "error", "a CSR with an RSA-1024 key (too weak)")
put("csr-dsa.pem", pem("CERTIFICATE REQUEST", csr(dsa.generate_private_key(2048))), "sign", "error", "a CSR with a DSA key")
put("csr-p521.pem", pem("CERTIFICATE REQUEST", csr(ec.generate_private_key(ec.SECP521R1()), algo=hashes.SHA512())), "sign", "error", "a CSR with an ECDSA P-521 key (not signed by certsmith)")
put("csr-secp256k1.pem", pem("CERTIFICATE REQUEST", csr(ec.generate_private_key(ec.SECP256K1()))), "sign", "error", "a CSR with a secp256k1 key")
put("csr-ed448.pem", pem("CERTIFICATE REQUEST", csr(ed448.Ed448PrivateKey.generate(), algo=None)), "sign", "error", "a CSR with an Ed448 key")
with tempfile.TemporaryDirectory() as t:
    k = os.path.join(t, "pss.key")
    sh("openssl", "genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048", "-out", k)
    pss = sh("openssl", "req", "-new", "-key", k, "-subj", "/CN=pss-device", "-outform", "PEM")
put("csr-rsa-pss.pem", pss.decode(), "sign", "error", "a CSR with an RSA-PSS key")

# A deeply nested DER blob: parsers that recurse without a limit overflow their stack.
nested = b"\x05\x00"
for _ in range(5000):
    nested = enc(0x30, nested)
put("csr-deep-nesting.der", nested[:60000], "sign", "error", "5,000 nested SEQUENCEs, cut to 60 KB")

# --- Certificates (fed to `inspect`) -------------------------------------
ca_key = ec.generate_private_key(ec.SECP256R1())
import datetime
now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
def cert(extensions=(), key=ca_key):
    b = (x509.CertificateBuilder().subject_name(name("Hostile CA")).issuer_name(name("Hostile CA"))
         .public_key(key.public_key()).serial_number(0x1234).not_valid_before(now)
         .not_valid_after(now + datetime.timedelta(days=365)))
    for e, c in extensions:
        b = b.add_extension(e, critical=c)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

good_cert = cert([(x509.BasicConstraints(ca=True, path_length=0), True)])

def resign(tbs):
    sig = ca_key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    alg = children(content(good_cert))[1]
    return enc(0x30, tbs + alg + enc(0x03, b"\x00" + sig))

def with_duplicate_extension(der):
    tbs = children(content(der))[0]
    parts = children(content(tbs))
    for i, p in enumerate(parts):
        if p[0] == 0xA3:  # [3] extensions
            exts = children(content(content(p)))
            exts = exts + [exts[0]]
            parts[i] = enc(0xA3, enc(0x30, b"".join(exts)))
    return resign(enc(0x30, b"".join(parts)))

put("cert-duplicate-extension.pem", pem("CERTIFICATE", with_duplicate_extension(good_cert)), "inspect", "error", "a correctly signed CA certificate with basicConstraints twice")
put("cert-truncated.pem", pem("CERTIFICATE", good_cert)[:300], "inspect", "error", "a certificate's PEM cut off after 300 bytes")
put("cert-garbage.pem", pem("CERTIFICATE", bytes(rng.randrange(256) for _ in range(500))), "inspect", "error", "random bytes inside CERTIFICATE armour")
put("cert-empty-armour.pem", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "inspect", "error", "CERTIFICATE armour with nothing inside")
put("cert-as-crl-label.pem", pem("X509 CRL", good_cert), "inspect", "error", "a certificate under an X509 CRL label")
put("cert-unknown-label.pem", pem("HOSTILE THING", good_cert), "inspect", "error", "a certificate under a label nobody uses")
put("cert-truncated.der", good_cert[:100], "inspect", "error", "a DER certificate cut after 100 bytes")
put("cert-trailing-bytes.der", good_cert + b"\xff" * 16, "inspect", "error", "a DER certificate followed by junk")
put("cert-1mb-line.pem", "-----BEGIN CERTIFICATE-----\n" + "A" * (1 << 20) + "\n-----END CERTIFICATE-----\n", "inspect", "error", "one 1 MB line of base64 'A's in CERTIFICATE armour")
put("cert-deep-nesting.der", nested, "inspect", "error", "5,000 nested SEQUENCEs (stack-depth attack)")
put("cert-bad-time.der", good_cert.replace(b"260101000000Z", b"26130199999aZ", 1), "inspect", "error", "a certificate whose notBefore is month 13, second 99")
put("cert-random.bin", bytes(rng.randrange(256) for _ in range(4096)), "inspect", "error", "4 KB of random bytes")
put("cert-bad-utf8.pem", b"-----BEGIN CERTIFICATE-----\n\xff\xfe\xfd\n-----END CERTIFICATE-----\n", "inspect", "error", "CERTIFICATE armour around bytes that are not UTF-8")

# --- CRLs ------------------------------------------------------------------
crl = (x509.CertificateRevocationListBuilder().issuer_name(name("Hostile CA")).last_update(now)
       .next_update(now + datetime.timedelta(days=7))
       .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(7).revocation_date(now).build())
       .sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
put("crl-truncated.pem", pem("X509 CRL", crl)[:150], "inspect", "error", "a CRL's PEM cut off after 150 bytes")
put("crl-garbage.pem", pem("X509 CRL", bytes(rng.randrange(256) for _ in range(200))), "inspect", "error", "random bytes inside X509 CRL armour")
put("crl-trailing-bytes.der", crl + b"\x00" * 8, "inspect", "error", "a DER CRL followed by zero bytes")
put("crl-bad-signature.pem", pem("X509 CRL", flip_last_sig_byte(crl)), "verify-crl", "error", "a CRL whose signature has a flipped byte, given to verify --crl")

# --- Keys (fed to `inspect`) ----------------------------------------------
key_pem = p256.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
put("key-truncated.pem", key_pem[:120], "inspect", "error", "a PKCS#8 key's PEM cut off after 120 bytes")
put("key-garbage.pem", pem("PRIVATE KEY", bytes(rng.randrange(256) for _ in range(120))), "inspect", "error", "random bytes inside PRIVATE KEY armour")
put("key-garbage-encrypted.pem", pem("ENCRYPTED PRIVATE KEY", bytes(rng.randrange(256) for _ in range(200))), "inspect", "error", "random bytes inside ENCRYPTED PRIVATE KEY armour")

# --- Passphrase files (fed to `init --passphrase-file`) --------------------
put("pass-empty.txt", "", "passfile", "error", "an empty passphrase file")
put("pass-only-newline.txt", "\n", "passfile", "error", "a passphrase file holding only a newline (empty once it is stripped)")
put("pass-bad-utf8.txt", b"\xff\xfe secret \xc3\x28\n", "passfile", "error", "a passphrase file that is not UTF-8")
put("pass-trailing-newline.txt", "Hostile-Pass-1\n", "passfile", "ok", "a passphrase with one trailing newline: accepted, the newline is stripped")

# --- Profiles (copied to <pki>/templates/hostile.json, then `issue --profile hostile`)
put("profile-garbage.json", "{ this is not json", "profile", "error", "a profile that is not JSON")
put("profile-unknown-field.json", '{"description":"x","kind":"leaf","extended_key_usage":["clientAuth"],"key_usage":["digitalSignature"],"default_validity":"1y","max_validity":"2y","default_key":"ecdsa-p256","subject":"CN={name}","san_allowed":[],"is_ca":true}', "profile", "error", "a profile with an unknown field (is_ca)")
put("profile-negative-validity.json", '{"description":"x","kind":"leaf","extended_key_usage":["clientAuth"],"key_usage":["digitalSignature"],"default_validity":"-5d","max_validity":"2y","default_key":"ecdsa-p256","subject":"CN={name}","san_allowed":[]}', "profile", "error", "a profile whose default validity is negative")
put("profile-huge-validity.json", '{"description":"x","kind":"leaf","extended_key_usage":["clientAuth"],"key_usage":["digitalSignature"],"default_validity":"99999999999y","max_validity":"99999999999y","default_key":"ecdsa-p256","subject":"CN={name}","san_allowed":[]}', "profile", "error", "a profile whose validity overflows any date")
put("profile-weak-key.json", '{"description":"x","kind":"leaf","extended_key_usage":["clientAuth"],"key_usage":["digitalSignature"],"default_validity":"1y","max_validity":"2y","default_key":"rsa-1024","subject":"CN={name}","san_allowed":[]}', "profile", "error", "a profile asking for RSA-1024 keys")
put("profile-ca-kind.json", '{"description":"x","kind":"root-ca","extended_key_usage":[],"key_usage":["keyCertSign"],"default_validity":"1y","max_validity":"2y","default_key":"ecdsa-p256","subject":"CN={name}","san_allowed":[]}', "profile", "error", "a CA profile used to issue a leaf")

# --- Manifests (fed to `batch`) --------------------------------------------
put("manifest-bad-utf8.csv", b"name,cn,san\ndev-1,Device \xff\xfe,\n", "batch", "error", "a CSV manifest with bytes that are not UTF-8")
put("manifest-crlf-bad-row.csv", "name,cn,san\r\ndev-1,Device 1,\r\n../evil,Device 2,\r\n", "batch", "error", "a CRLF CSV manifest whose second row names '../evil'")
put("manifest-1mb-line.csv", "name,cn,san\ndev-1," + "C" * (1 << 20) + ",\n", "batch", "error", "a CSV manifest with a 1 MB line")
put("manifest-duplicate-names.csv", "name,cn,san\ndev-1,A,\ndev-2,B,\ndev-1,C,\n", "batch", "error", "a CSV manifest naming dev-1 twice")
put("manifest-duplicate-names.jsonl", '{"name":"dev-1"}\n{"name":"dev-1"}\n', "batch", "error", "a JSON Lines manifest naming dev-1 twice")
put("manifest-nul.csv", "name,cn,san\ndev\x00-1,A,\n", "batch", "error", "a CSV manifest with a NUL byte in a name")
put("manifest-bad-json.jsonl", '{"name":"dev-1"}\n{"name": \n', "batch", "error", "a JSON Lines manifest whose second line is cut off")

# --- Resource bombs and strict parsing ---------------------------------------
# Encrypted keys whose KDF parameters would take hours or many GiB before the
# passphrase could even be checked (fed to `init --import-key`; the ciphertext is
# random: certsmith must refuse the parameters before deriving anything).
def der_int(n):
    return enc(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big"))

def oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    out = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        b = [p & 0x7F]
        p >>= 7
        while p:
            b.insert(0, 0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(b)
    return enc(0x06, out)

def pbes2_key(kdf):
    aes = enc(0x30, oid("2.16.840.1.101.3.4.1.42") + enc(0x04, bytes(rng.randrange(256) for _ in range(16))))
    alg = enc(0x30, oid("1.2.840.113549.1.5.13") + enc(0x30, kdf + aes))
    return pem("ENCRYPTED PRIVATE KEY", enc(0x30, alg + enc(0x04, bytes(rng.randrange(256) for _ in range(144)))))

def pbkdf2(iterations):
    salt = enc(0x04, bytes(rng.randrange(256) for _ in range(16)))
    prf = enc(0x30, oid("1.2.840.113549.2.9") + b"\x05\x00")
    return enc(0x30, oid("1.2.840.113549.1.5.12") + enc(0x30, salt + der_int(iterations) + prf))

def scrypt(n, r, p):
    salt = enc(0x04, bytes(rng.randrange(256) for _ in range(16)))
    return enc(0x30, oid("1.3.6.1.4.1.11591.4.11") + enc(0x30, salt + der_int(n) + der_int(r) + der_int(p)))

put("key-pbkdf2-2pow31.pem", pbes2_key(pbkdf2(2**31 - 1)), "import-key", "error", "an encrypted key asking for 2^31-1 PBKDF2 iterations (about an hour)")
put("key-scrypt-n2pow24.pem", pbes2_key(scrypt(2**24, 8, 1)), "import-key", "error", "an encrypted key asking for scrypt N=2^24, r=8 (16 GiB of memory)")
put("key-scrypt-p-huge.pem", pbes2_key(scrypt(2**14, 8, 65535)), "import-key", "error", "an encrypted key asking for scrypt p=65535 (hours of CPU)")
put("key-garbage-ec.pem", pem("EC PRIVATE KEY", bytes(rng.randrange(256) for _ in range(121))), "inspect", "error", "random bytes inside EC PRIVATE KEY armour")
put("key-garbage-rsa.pem", pem("RSA PRIVATE KEY", bytes(rng.randrange(256) for _ in range(600))), "inspect", "error", "random bytes inside RSA PRIVATE KEY armour")
put("csr-two-concatenated.pem", pem("CERTIFICATE REQUEST", good_csr) + pem("CERTIFICATE REQUEST", csr(p256, cn="second-device")), "sign", "error", "two valid CSRs in one file (the second would be ignored)")
put("manifest-duplicate-key.jsonl", '{"name":"dev-1","name":"dev-2"}\n', "batch", "error", "a JSON Lines row naming \"name\" twice (one value would be dropped)")
put("pass-5kb.txt", "p" * 5000 + "\n", "passfile", "error", "a 5,000-byte passphrase file, above the 4 KiB cap")

# KDF parameters that are malformed (scrypt needs N a power of two >= 2,
# r >= 1, p >= 1; PBKDF2 at least one iteration) or cost more than OpenSSL
# itself runs (N*r*p above 2^23 or 128*r*N above 256 MiB).
put("key-scrypt-n0.pem", pbes2_key(scrypt(0, 8, 1)), "import-key", "error", "an encrypted key asking for scrypt N=0 (panicked the KDF)")
put("key-scrypt-n3.pem", pbes2_key(scrypt(3, 8, 1)), "import-key", "error", "an encrypted key asking for scrypt N=3, not a power of two")
put("key-scrypt-r0.pem", pbes2_key(scrypt(2**14, 0, 1)), "import-key", "error", "an encrypted key asking for scrypt r=0")
put("key-scrypt-p0.pem", pbes2_key(scrypt(2**14, 8, 0)), "import-key", "error", "an encrypted key asking for scrypt p=0")
put("key-pbkdf2-0.pem", pbes2_key(pbkdf2(0)), "import-key", "error", "an encrypted key asking for 0 PBKDF2 iterations")
put("key-scrypt-work-2pow25.pem", pbes2_key(scrypt(2**20, 1, 32)), "import-key", "error", "an encrypted key asking for scrypt N=2^20, r=1, p=32 (N*r*p = 2^25, ~20 s per load)")
put("key-scrypt-1gib.pem", pbes2_key(scrypt(2**20, 8, 4)), "import-key", "error", "an encrypted key asking for scrypt N=2^20, r=8, p=4 (1 GiB of memory per load)")
# Keys that only look right: the structure parses, the key does not.
put("key-pkcs8-ec-random.pem", pem("PRIVATE KEY", enc(0x30, der_int(0) + enc(0x30, oid("1.2.840.10045.2.1") + oid("1.2.840.10045.3.1.7")) + enc(0x04, bytes(rng.randrange(256) for _ in range(60))))), "inspect", "error", "a PKCS#8 key with the EC P-256 OID and 60 random bytes as the key")
put("key-rsa-tiny-ints.pem", pem("RSA PRIVATE KEY", enc(0x30, b"".join(der_int(i) for i in range(9)))), "inspect", "error", "an RSA PRIVATE KEY of nine tiny integers")

with open("README.md", "w") as f:
    f.write("# Hostile inputs\n\n")
    f.write("Files that certsmith must refuse cleanly: exit 2, a one-line `certsmith: …` error (plus an\n")
    f.write("optional `hint:` line), the PKI directory byte-for-byte unchanged, no panic, no hang.\n")
    f.write("`tests/hardening/hostile.rs` reads the table below and feeds each file to its command.\n")
    f.write("Regenerate with `python3 make.py` (needs openssl and python3-cryptography).\n\n")
    f.write("| file | command | expect | what it is |\n| --- | --- | --- | --- |\n")
    for row in INDEX:
        f.write("| " + " | ".join(row) + " |\n")
print(f"{len(INDEX)} files")
