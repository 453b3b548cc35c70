"""``${VAR}`` in configs: read from the environment when used, so secrets stay out of files."""

from __future__ import annotations

import os
import re

from datamill.core.errors import ConfigError

__all__ = ["ENV_VAR", "env_names", "expand_env", "hide_url_passwords", "is_secret_name"]

ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Names of options, headers and query parameters whose value is a credential.
_SECRET_WORDS = ("auth", "token", "secret", "password", "passwd", "apikey", "api_key", "api-key",
                 "session", "cookie", "signature", "credential", "private")
_SECRET_NAMES = frozenset({"key", "sig", "code", "access_key", "x-amz-security-token"})
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)[^@/\s]+@")


def is_secret_name(name: str) -> bool:
    """Whether an option, header or query parameter of this name carries a credential.

    >>> is_secret_name("Authorization"), is_secret_name("api_key"), is_secret_name("page")
    (True, True, False)
    """
    lowered = name.lower()
    return lowered in _SECRET_NAMES or any(word in lowered for word in _SECRET_WORDS)


def hide_url_passwords(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` in it replaced by ``***``.

    >>> hide_url_passwords("postgresql://bob:s3cret@db/x and http://a.test/p")
    'postgresql://bob:***@db/x and http://a.test/p'
    """
    return _URL_PASSWORD.sub(r"\1***@", text)
# Shorter values would be scrubbed out of unrelated text ("a", "1") and hide nothing.
_MIN_SECRET_CHARS = 4


def env_names(text: str) -> list[str]:
    """The environment variables ``text`` refers to as ``${VAR}``.

    >>> env_names("Bearer ${TOKEN} ${TOKEN}")
    ['TOKEN']
    """
    return list(dict.fromkeys(ENV_VAR.findall(text)))


def expand_env(text: str, *, where: str, secrets: set[str] | None = None) -> str:
    """Replace each ``${VAR}`` in ``text`` with the variable's value from the environment.

    Each value is added to ``secrets`` (values of four characters or more), so it can be
    scrubbed from everything shown. A variable that is not set is a `ConfigError` naming
    ``where`` it was used.

    >>> os.environ["DM_DOCTEST_TOKEN"] = "s3cr3t"
    >>> found: set[str] = set()
    >>> expand_env("Bearer ${DM_DOCTEST_TOKEN}", where="header `Authorization`", secrets=found)
    'Bearer s3cr3t'
    >>> found
    {'s3cr3t'}
    >>> del os.environ["DM_DOCTEST_TOKEN"]
    """

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = os.environ.get(name)
        if found is None:
            raise ConfigError(
                f"{where} uses `${{{name}}}`, but the environment variable {name} is not set. "
                f"Set it before running (`export {name}=...`)."
            )
        if secrets is not None and len(found) >= _MIN_SECRET_CHARS:
            secrets.add(found)
        return found

    return ENV_VAR.sub(value, text)
