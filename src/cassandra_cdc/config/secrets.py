"""Secret references in configuration values, resolved before validation.

Any string value may contain ``${env:NAME}`` (the environment, then the ``.env`` file),
``${file:/path}`` (the file's content, one trailing newline removed) or
``${vault:PATH#KEY}`` (a HashiCorp Vault / OpenBao secret); a value that is exactly
``vault:PATH#KEY`` is the secret itself. ``$${`` stands for a literal ``${``.

``PATH`` is the secret's API path without ``/v1/``: for the KV version 2 engine mounted at
``secret/`` that is ``secret/data/<name>`` (the ``data`` of the response's ``data`` is used); for
KV version 1, ``secret/<name>``. Each path is read once per load.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cassandra_cdc.config.sources import ConfigPathKey

_REFERENCE = re.compile(r"\$\$\{|\$\{(env|file|vault):([^}]*)\}")
_WHOLE_VAULT = re.compile(r"^vault:([^#\s]+)#(\S+)$")


class SecretError(ValueError):
    """A reference that cannot be resolved; ``path`` is the configuration key holding it."""

    def __init__(self, path: ConfigPathKey, message: str) -> None:
        super().__init__(message)
        self.path = path


class VaultReader:
    """Reads secrets from Vault through hvac (the ``vault`` extra), caching each path."""

    def __init__(
        self,
        address: str | None,
        token: str | None,
        *,
        namespace: str | None = None,
        verify: bool | str = True,
        timeout: float = 10.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.address = address or env.get("VAULT_ADDR")
        self.token = token or env.get("VAULT_TOKEN")
        self.namespace = namespace or env.get("VAULT_NAMESPACE")
        self.verify = verify
        self.timeout = timeout
        self._client: Any = None
        self._cache: dict[str, dict[str, Any]] = {}

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        if not self.address:
            raise ValueError("no Vault address: set vault.address or VAULT_ADDR")
        if not self.token:
            raise ValueError("no Vault token: set vault.token, vault.token_file or VAULT_TOKEN")
        try:
            import hvac
        except ImportError:
            raise ValueError("vault references need hvac: pip install 'cassandra-cdc[vault]'") from None
        self._client = hvac.Client(
            url=self.address, token=self.token, namespace=self.namespace, verify=self.verify, timeout=self.timeout
        )
        return self._client

    def read(self, path: str, key: str) -> str:
        data = self._cache.get(path)
        if data is None:
            client = self._connect()
            try:
                response = client.read(path)
            except Exception as exc:  # hvac raises Forbidden, InvalidPath..., and requests errors
                raise ValueError(f"Vault at {self.address}: cannot read {path}: {type(exc).__name__}: {exc}") from None
            if not isinstance(response, dict) or not isinstance(response.get("data"), dict):
                raise ValueError(f"Vault at {self.address}: no secret at {path}")
            data = response["data"]
            # KV v2 wraps the secret: {"data": {"data": {...}, "metadata": {...}}}.
            if isinstance(data.get("data"), dict) and isinstance(data.get("metadata"), dict):
                data = data["data"]
            self._cache[path] = data
        if key not in data:
            known = ", ".join(sorted(data)) or "none"
            raise ValueError(f"Vault secret {path} has no key {key!r} (keys: {known})")
        value = data[key]
        return value if isinstance(value, str) else str(value)


class SecretResolver:
    """Resolves references in a raw configuration tree, in place."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        dotenv: Mapping[str, str] | None = None,
        vault: Callable[[], VaultReader] | None = None,
    ) -> None:
        self.environ = os.environ if environ is None else environ
        self.dotenv = dotenv or {}
        self.vault_factory = vault
        self._vault: VaultReader | None = None
        self.resolved: set[ConfigPathKey] = set()  # paths that held a reference (their values are secret)

    def env(self, name: str) -> str:
        value = self.environ.get(name)
        if value is None:
            value = self.dotenv.get(name)
        if value is None:
            raise ValueError(f"environment variable {name} is not set (nor in the .env file)")
        return value

    def vault(self, reference: str) -> str:
        path, sep, key = reference.partition("#")
        if not sep or not path or not key:
            raise ValueError(f"vault reference {reference!r} must be PATH#KEY (e.g. secret/data/cdc#pg_password)")
        if self._vault is None:
            if self.vault_factory is None:
                raise ValueError("vault references need a vault section")
            self._vault = self.vault_factory()
        return self._vault.read(path.strip("/"), key)

    @staticmethod
    def file(name: str) -> str:
        try:
            text = Path(name).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read secret file {name}: {exc.strerror or exc}") from None
        return text.removesuffix("\n").removesuffix("\r")

    def value(self, text: str, *, allow_vault: bool = True) -> str:
        whole = _WHOLE_VAULT.match(text)
        if whole is not None and allow_vault:
            return self.vault(f"{whole.group(1)}#{whole.group(2)}")

        def substitute(match: re.Match[str]) -> str:
            kind, reference = match.group(1), match.group(2)
            if kind is None:
                return "${"
            if kind == "env":
                return self.env(reference)
            if kind == "file":
                return self.file(reference)
            if not allow_vault:
                raise ValueError("vault references cannot be used to configure Vault itself")
            return self.vault(reference)

        return _REFERENCE.sub(substitute, text)

    def resolve_tree(self, node: Any, path: ConfigPathKey = (), errors: list[SecretError] | None = None) -> Any:
        """Resolve every string below ``node``; failures are appended to ``errors`` (or raised)."""
        if isinstance(node, dict):
            for key in list(node):
                node[key] = self.resolve_tree(node[key], (*path, key), errors)
            return node
        if isinstance(node, list):
            return [self.resolve_tree(item, (*path, i), errors) for i, item in enumerate(node)]
        if not isinstance(node, str) or ("${" not in node and not node.startswith("vault:")):
            return node
        try:
            resolved = self.value(node, allow_vault=path[:1] != ("vault",))
        except ValueError as exc:
            error = SecretError(path, str(exc))
            if errors is None:
                raise error from None
            errors.append(error)
            return node
        if resolved != node:
            self.resolved.add(path)
        return resolved
