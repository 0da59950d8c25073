"""Test certificates made with the openssl command, shared by the TLS tests.

make_certs(dir) writes, all self-signed (each is its own CA):
- cert.pem / key.pem: a server certificate for localhost and 127.0.0.1;
- other.pem / other.key: another one for the same names, trusted by no one;
- client.pem / client.key: a client certificate (CN=client).
"""
import subprocess


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=str(cwd), check=True, capture_output=True, timeout=60)


def _self_signed(cwd, cert, key, subj, san=None, ec=False):
    alg = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if ec else ["-newkey", "rsa:2048"]
    openssl("req", "-x509", *alg, "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", subj,
            *(["-addext", "subjectAltName=" + san] if san else []), cwd=cwd)


def make_certs(cwd):
    _self_signed(cwd, "cert.pem", "key.pem", "/CN=localhost", "DNS:localhost,IP:127.0.0.1")
    _self_signed(cwd, "other.pem", "other.key", "/CN=localhost", "DNS:localhost,IP:127.0.0.1", ec=True)
    _self_signed(cwd, "client.pem", "client.key", "/CN=client", ec=True)
    return cwd
