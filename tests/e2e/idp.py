"""A test identity provider that behaves like an Auth0 tenant towards the filter.

RS256 JWT access tokens with a `kid`, a JWKS endpoint, `/userinfo` for JWTs (when `aud`
holds the userinfo URL) and for opaque tokens, key rotation, and switchable faults:
HTTP 500, slow answers, or dropping the connection without an answer.

Also a stand-in for Mozilla's Person API v2 (docs/DESIGN.md §4), on the same server: the
client-credentials grant at `/oauth/token` issues machine tokens, and
`GET /v2/user/user_id/{url-encoded user_id}` answers a person, shaped like the real one
(attributes with metadata; groups as the keys of `access_information.*.values`, with null
values), to a request bearing one of those tokens; `person_fault` breaks only it.
"""

import base64
import hashlib
import json
import secrets
import urllib.parse
import threading
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from servers import JsonHandler, LoopbackServer


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


class SigningKey:
    def __init__(self, kid: str, bits: int = 2048):
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=bits)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message, padding.PKCS1v15(), hashes.SHA256())

    def jwk(self) -> dict:
        numbers = self.private.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": b64url(n), "e": b64url(e)}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class TestIdp(LoopbackServer):
    """Start with `start()`; mint tokens with `jwt()` and `opaque()`; flip `fault`."""

    def __init__(self, domain="tenant.test", audience="https://api.example.com/"):
        self.domain = domain
        self.audience = audience
        self.issuer = f"https://{domain}/"
        self.userinfo_url = f"https://{domain}/userinfo"
        self.keys = [SigningKey("key-1")]
        self.profiles = {}  # token -> profile, for /userinfo
        self.fault = None  # None | "500" | "drop" | ("delay", seconds)
        self.hits = {"jwks": 0, "userinfo": 0, "token": 0}
        # The code flow: codes issued at /authorize, the user who "logs in" there, and
        # claims to break in the next ID tokens (nonce, aud, exp...).
        self.codes = {}
        self.login_as = "auth0|webuser"
        self.id_token_overrides = {}
        self.access_token_overrides = {}  # claims of the code flow's access tokens (scope...)
        self.authorize_error = None
        # The device flow: device_code -> {"state", "sub", "user_code"}; the interval it asks for.
        self.devices = {}
        self.device_interval = 1
        # Auth0's session id of the last code-flow login (its ID token's `sid`).
        self.last_sid = None
        # The Person API stand-in: people by user_id, the machine client allowed to ask,
        # the tokens issued to it, and a fault of its own.
        self.people = {}
        self.m2m_client = ("person-api-client", "person-api-secret")
        self.m2m_tokens = set()
        self.person_fault = None  # None | "500" | "drop" | ("delay", seconds)
        self.lock = threading.Lock()

    # -- tokens -------------------------------------------------------------------------

    @property
    def key(self) -> SigningKey:
        return self.keys[0]

    def claims(self, sub="auth0|alice", **overrides):
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": sub,
            "aud": [self.audience, self.userinfo_url],
            "iat": now,
            "exp": now + 3600,
            "scope": "openid profile email read:data",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign_jwt(self, header: dict, claims: dict, key: SigningKey = None) -> str:
        key = key or self.key
        signing_input = f"{b64json(header)}.{b64json(claims)}".encode()
        return signing_input.decode() + "." + b64url(key.sign(signing_input))

    def jwt(self, sub="auth0|alice", email="alice@example.com", name="Alice", key=None, header=None, **claims):
        """An access token; registered for /userinfo with the given profile."""
        key = key or self.key
        hdr = {"alg": "RS256", "typ": "JWT", "kid": key.kid}
        hdr.update(header or {})
        token = self.sign_jwt(hdr, self.claims(sub, **claims), key)
        self.profiles[token] = {"sub": sub, "email": email, "name": name}
        return token

    def opaque(self, sub="auth0|olivia", email="olivia@example.com", name="Olivia"):
        token = secrets.token_urlsafe(24)
        self.profiles[token] = {"sub": sub, "email": email, "name": name}
        return token

    def token_answer(self, grant):
        """What Auth0's /oauth/token answers for a code: an RS256 access token for the API
        asked for as `audience` (an opaque one, usable only at /userinfo, without one) and an
        RS256 ID token for the client, with the nonce it was asked for."""
        sub = grant["sub"]
        name = sub.split("|")[-1]
        profile = dict(sub=sub, email=f"{name}@example.com", name=name.title())
        if grant.get("audience"):
            access_token = self.jwt(**{"aud": [grant["audience"], self.userinfo_url], **profile,
                                       **self.access_token_overrides})
        else:
            access_token = self.opaque(**profile)
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": sub, "aud": grant["client_id"], "iat": now, "exp": now + 600,
                  "nonce": grant.get("nonce"), "email": f"{name}@example.com", "name": name.title(),
                  "sid": grant.get("sid")}
        claims.update(self.id_token_overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        id_token = self.sign_jwt({"alg": "RS256", "typ": "JWT", "kid": self.key.kid}, claims)
        return {"access_token": access_token, "id_token": id_token, "token_type": "Bearer", "expires_in": 86400}

    def logout_token(self, sid=None, sub=None, aud="web-app", key=None, header=None, **overrides):
        """An OIDC back-channel logout token as Auth0 sends it; `overrides` replace claims
        (None removes one)."""
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": aud, "iat": now, "exp": now + 120, "jti": secrets.token_urlsafe(16),
                  "events": {"http://schemas.openid.net/event/backchannel-logout": {}}, "sid": sid, "sub": sub}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = key or self.key
        hdr = {"alg": "RS256", "typ": "logout+jwt", "kid": key.kid}
        hdr.update(header or {})
        return self.sign_jwt(hdr, claims, key)

    def device_state(self, user_code, state):
        """What the person did on the other device: approved, denied; or the code expired."""
        for device in self.devices.values():
            if device["user_code"] == user_code:
                device["state"] = state
                return
        raise KeyError(user_code)

    def add_person(self, user_id, groups=(), active=True, email="alice@example.com", staff=True):
        """Registers a person for the Person API stand-in, shaped like PersonAPI.md's."""
        meta = {"classification": "PUBLIC", "publisher_authority": "cis", "verified": True}

        def attr(value):
            return {"signature": {"publisher": {"alg": "RS256", "value": "sig"}}, "metadata": meta, "value": value}

        def groups_attr(names):
            return {"signature": {}, "metadata": meta, "values": {name: None for name in names}}

        self.people[user_id] = {
            "user_id": attr(user_id),
            "active": attr(active),
            "primary_email": attr(email),
            "staff_information": {"staff": attr(staff), "title": attr("Engineer")},
            "access_information": {
                "ldap": groups_attr(groups),
                "mozilliansorg": groups_attr(["nda"]),
                "hris": {"signature": {}, "metadata": meta, "values": None},
                "access_provider": groups_attr([]),
            },
            # A key with a `/` in it: reached with the pointer escape `~1`.
            "identities": {"github/id": attr("12345")},
        }

    def rotate(self, kid: str) -> SigningKey:
        """A new signing key first in line; the old one stays published."""
        key = SigningKey(kid)
        self.keys.insert(0, key)
        return key

    # -- server -------------------------------------------------------------------------

    def start(self):
        idp = self

        class Handler(JsonHandler):
            def redirect(self, location):
                self.send_response(302)
                self.send_header("location", location)
                self.send_header("content-length", "0")
                self.end_headers()

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                path = self.path.split("?")[0]
                if path == "/oauth/device/code":
                    with idp.lock:
                        idp.hits["device"] = idp.hits.get("device", 0) + 1
                    if idp.fault == "500":
                        return self.answer(500, {"error": "server_error"})
                    device_code, user_code = secrets.token_urlsafe(24), secrets.token_hex(4).upper()
                    idp.devices[device_code] = {"state": "pending", "sub": idp.login_as, "user_code": user_code,
                                                "client_id": form.get("client_id"), "audience": form.get("audience")}
                    uri = f"{idp.issuer}activate"
                    return self.answer(200, {"device_code": device_code, "user_code": user_code, "verification_uri": uri,
                                             "verification_uri_complete": f"{uri}?user_code={user_code}",
                                             "expires_in": 900, "interval": idp.device_interval})
                if path != "/oauth/token":
                    return self.answer(404, {"error": "not_found"})
                if form.get("grant_type") == "client_credentials":
                    with idp.lock:
                        idp.hits["client_credentials"] = idp.hits.get("client_credentials", 0) + 1
                    if (form.get("client_id"), form.get("client_secret")) != idp.m2m_client:
                        return self.answer(401, {"error": "access_denied", "error_description": "Unauthorized"})
                    if form.get("audience") != "api.sso.mozilla.com":
                        return self.answer(403, {"error": "access_denied"})
                    token = secrets.token_urlsafe(32)
                    with idp.lock:
                        idp.m2m_tokens.add(token)
                    return self.answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": 86400,
                                             "scope": form.get("scope", "")})
                if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:device_code":
                    with idp.lock:
                        idp.hits["token"] += 1
                    if idp.fault == "500":
                        return self.answer(500, {"error": "server_error"})
                    device = idp.devices.get(form.get("device_code"))
                    if device is None or device["client_id"] != form.get("client_id"):
                        return self.answer(400, {"error": "invalid_grant"})
                    state = device["state"]
                    if state == "slow_down":
                        device["state"] = "pending"
                    if state == "approved":
                        token = idp.jwt(**{"sub": device["sub"], "aud": device["audience"],
                                           **idp.access_token_overrides})
                        del idp.devices[form["device_code"]]
                        return self.answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": 86400})
                    error = {"pending": "authorization_pending", "slow_down": "slow_down",
                             "denied": "access_denied", "expired": "expired_token"}[state]
                    return self.answer(400 if state != "denied" else 403, {"error": error})
                with idp.lock:
                    idp.hits["token"] += 1
                    grant = idp.codes.pop(form.get("code"), None)  # single use
                if idp.fault == "500":
                    return self.answer(500, {"error": "server_error"})
                if grant is None or form.get("grant_type") != "authorization_code":
                    return self.answer(400, {"error": "invalid_grant"})
                verifier = form.get("code_verifier", "")
                challenge = b64url(hashlib.sha256(verifier.encode()).digest())
                if (form.get("client_id") != grant["client_id"] or form.get("redirect_uri") != grant["redirect_uri"]
                        or challenge != grant["code_challenge"]):
                    return self.answer(400, {"error": "invalid_grant"})
                return self.answer(200, idp.token_answer(grant))

            def faulted(self, fault):
                """Carries out a configured fault: a delay, a 500, or a dropped connection. True
                when the request has been answered (or dropped) by it."""
                if isinstance(fault, tuple) and fault[0] == "delay":
                    time.sleep(fault[1])
                elif fault == "500":
                    self.answer(500, {"error": "server_error"})
                    return True
                elif fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return True
                return False

            def person(self, user_id):
                with idp.lock:
                    idp.hits["person"] = idp.hits.get("person", 0) + 1
                if self.faulted(idp.person_fault):
                    return
                auth = self.headers.get("authorization", "")
                if not auth.startswith("Bearer ") or auth[7:] not in idp.m2m_tokens:
                    return self.answer(401, {"message": "Unauthorized"})
                person = idp.people.get(urllib.parse.unquote(user_id))
                if person is None:
                    return self.answer(404, {"error": "not_found"})
                return self.answer(200, person)

            def do_GET(self):
                path = self.path.split("?")[0]
                if path.startswith("/v2/user/user_id/"):
                    return self.person(path[len("/v2/user/user_id/"):])
                if path == "/authorize":
                    q = dict(urllib.parse.parse_qsl(self.path.partition("?")[2]))
                    target = q["redirect_uri"]
                    if idp.authorize_error:
                        return self.redirect(f"{target}?error={idp.authorize_error}&state={q.get('state', '')}")
                    code = secrets.token_urlsafe(16)
                    with idp.lock:
                        idp.last_sid = secrets.token_urlsafe(12)
                        idp.codes[code] = dict(q, sub=idp.login_as, sid=idp.last_sid)
                    return self.redirect(f"{target}?code={code}&state={urllib.parse.quote(q['state'])}")
                kind = {"/.well-known/jwks.json": "jwks", "/userinfo": "userinfo"}.get(path)
                if kind is None:
                    with idp.lock:
                        idp.hits["other"] = idp.hits.get("other", 0) + 1
                    return self.answer(404, {"error": "not_found"})
                with idp.lock:
                    idp.hits[kind] += 1
                if self.faulted(idp.fault):
                    return
                if kind == "jwks":
                    return self.answer(200, {"keys": [k.jwk() for k in idp.keys]})
                auth = self.headers.get("authorization", "")
                token = auth[7:] if auth.lower().startswith("bearer ") else ""
                profile = idp.profiles.get(token)
                if profile is None:
                    return self.answer(401, {"error": "invalid_token"})
                return self.answer(200, profile)

        return self.serve(Handler)
