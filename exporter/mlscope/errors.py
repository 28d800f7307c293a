"""The one exception tree of mlscope.

::

    MlscopeError
     ├── ConfigError        invalid configuration (names the key path)
     ├── ProfileError       malformed, truncated or wrong-version profile file
     ├── InputError         a record or batch that cannot be ingested (names the field)
     └── AuthError          missing or wrong credentials at an mlscope endpoint

Nothing from this tree is ever raised into a serving app's request path: the
middleware and :class:`mlscope.Monitor` count problems instead of raising.
"""

from __future__ import annotations


class MlscopeError(Exception):
    """Base class of every error mlscope raises on purpose."""


class ConfigError(MlscopeError, ValueError):
    """A configuration value is invalid; the message names the key path."""


class ProfileError(MlscopeError, ValueError):
    """A reference profile cannot be read or is not valid; the message names the field."""


class InputError(MlscopeError, ValueError):
    """Input data cannot be used; the message names the field and what came."""


class AuthError(MlscopeError):
    """Credentials were missing or wrong."""
