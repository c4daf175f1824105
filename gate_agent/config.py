"""Lane configuration: one TOML file per lane, validated before anything starts.

A misconfigured lane must refuse to start with a message that names the setting
(issue #4, point 8), so validation errors are rewritten as ``section.key: problem``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PLACEHOLDER_TOKENS = {"", "change-me", "changeme", "CHANGE_ME", "<lane token>"}


class ConfigError(Exception):
    """A lane configuration that must not start; ``str()`` names the bad setting."""


class _Section(BaseModel):
    # Unknown keys are typos more often than not; refusing them names the setting.
    model_config = ConfigDict(extra="forbid")


class LaneConfig(_Section):
    server_url: str
    token: str
    lane_code: str
    direction: Literal["entry", "exit"]
    # "auto" takes the class from the plate kind (two-line motorbike plate -> motorbike).
    vehicle_class: str = "auto"
    # How long the lane waits for the server's answer before deciding locally.
    decision_timeout_s: float = Field(default=2.0, gt=0, le=30)
    # How long an exit waits for a payment before calling the attendant.
    pay_timeout_s: float = Field(default=120.0, gt=0)
    session_poll_s: float = Field(default=2.0, gt=0)
    cache_refresh_s: float = Field(default=30.0, gt=0)

    @field_validator("server_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("token")
    @classmethod
    def _token(cls, v: str) -> str:
        if v.strip() in PLACEHOLDER_TOKENS:
            raise ValueError("is empty or still the placeholder; set the lane credential")
        return v

    @field_validator("lane_code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("is empty")
        return v


class CameraConfig(_Section):
    # "folder:PATH" | "rtsp://..." | "http(s)://..." | "usb:0" | "file:video.mp4"
    source: str
    fps: float = Field(default=2.0, gt=0, le=120)
    loop: bool = True
    # Same seed on the entry and the exit lane = the same vehicles in the same order.
    order_seed: int | None = None
    # Delay before the first frame; an exit lane replays the entry lane's cars later.
    offset_s: float = Field(default=0.0, ge=0)
    # CSV with columns file,plate_text (default: labels.csv in the folder). Demo/test only.
    labels: str | None = None
    reconnect_max_s: float = Field(default=30.0, gt=0)

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        kind, _, rest = v.partition(":")
        if v.startswith(("rtsp://", "rtsps://", "http://", "https://")):
            return v
        if kind == "folder":
            p = Path(rest).expanduser()
            if not rest or not p.is_dir():
                raise ValueError(f"folder {rest or '(empty)'} does not exist")
            return f"folder:{p}"
        if kind == "file":
            p = Path(rest).expanduser()
            if not rest or not p.is_file():
                raise ValueError(f"file {rest or '(empty)'} does not exist")
            return f"file:{p}"
        if kind == "usb":
            if not rest.isdigit():
                raise ValueError(f"usb camera index must be a number, got {rest!r}")
            return v
        raise ValueError(f"unknown source {v!r}; use folder:PATH, file:PATH, usb:N, rtsp://..., or http://...")

    @model_validator(mode="after")
    def _labels(self) -> CameraConfig:
        if self.labels is not None and not Path(self.labels).expanduser().is_file():
            raise ValueError(f"labels: file {self.labels} does not exist")
        return self


class ReaderConfig(_Section):
    # "default" = the EasyOCR plate reader (needs the `gate` extra).
    # "sidecar" = TEST/DEMO ONLY: takes the plate text from labels.csv / NAME.txt next to the image.
    engine: str = "default"
    threads: int = Field(default=1, ge=1, le=8)
    # Reads below this are still sent (with the plate crop) so the server can call the attendant.
    # Unset: the engine's shipped operating point (gate_agent/reading/models/operating_point.json, chosen
    # on held-out plates for <= 0.5 % wrong among accepted reads), so the threshold follows the model.
    min_confidence: float | None = Field(default=None, ge=0, le=1)
    fusion_window_s: float = Field(default=1.5, gt=0)
    # The same plate seen again within this window is the same vehicle: no new event.
    dedup_window_s: float = Field(default=20.0, ge=0)

    @model_validator(mode="after")
    def _operating_point(self) -> ReaderConfig:
        if self.min_confidence is None:
            # Pure JSON lookup (no model loaded); the sidecar test reader gets the fallback 0.6.
            from gate_agent.reading import operating_point

            self.min_confidence = operating_point(self.engine)["operating_threshold"]
        return self

    @property
    def accept_threshold(self) -> float:
        """``min_confidence`` once resolved (always set after validation)."""
        assert self.min_confidence is not None
        return self.min_confidence


class BarrierConfig(_Section):
    driver: Literal["simulated", "http_relay"] = "simulated"
    url: str | None = None
    close_url: str | None = None
    method: Literal["GET", "POST"] = "GET"
    open_ms: int = Field(default=3000, gt=0, le=120_000)
    timeout_s: float = Field(default=1.0, gt=0)
    # Simulated barrier: append one JSON line per movement (lets tests and the demo watch it).
    state_file: str | None = None

    @model_validator(mode="after")
    def _relay(self) -> BarrierConfig:
        if self.driver == "http_relay":
            if not self.url:
                raise ValueError("url: is required when barrier.driver = 'http_relay'")
            for name, u in (("url", self.url), ("close_url", self.close_url)):
                if u is not None and not u.startswith(("http://", "https://")):
                    raise ValueError(f"{name}: must start with http:// or https://")
        return self


class DisplayConfig(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    # 0 = any free port (tests).
    port: int = Field(default=8090, ge=0, le=65535)


class QueueConfig(_Section):
    path: str
    max_backoff_s: float = Field(default=60.0, gt=0)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        parent = Path(v).expanduser().resolve().parent
        if not parent.is_dir():
            raise ValueError(f"directory {parent} does not exist")
        return str(Path(v).expanduser())


class HeartbeatConfig(_Section):
    interval_s: float = Field(default=10.0, gt=0)


class AgentConfig(_Section):
    lane: LaneConfig
    camera: CameraConfig
    reader: ReaderConfig = ReaderConfig()
    barrier: BarrierConfig = BarrierConfig()
    display: DisplayConfig = DisplayConfig()
    queue: QueueConfig
    heartbeat: HeartbeatConfig = HeartbeatConfig()


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "missing":
            lines.append(f"{loc} is missing")
        elif e["type"] == "extra_forbidden":
            lines.append(f"{loc} is not a known setting")
        elif ": " in msg and e["type"] == "value_error" and loc.count(".") == 0:
            # model-level validators already name the key ("url: ...")
            lines.append(f"{loc}.{msg}")
        else:
            lines.append(f"{loc}: {msg}")
    return "; ".join(lines)


def parse_config(data: dict[str, object]) -> AgentConfig:
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def load_config(path: str | Path) -> AgentConfig:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return parse_config(data)
