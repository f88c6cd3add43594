"""The gate and the canary: whether a challenger replaces the champion, and how traffic moves to it.

Two decisions, both pure functions of measured numbers and a config dataclass (no AWS, no torch):

1. `decide(challenger, champion, win_rate, comparisons, config)` — promote only if
   - the challenger wins: win rate against the champion (ties count half) >= 0.5 + `min_win_margin`,
     over at least `min_comparisons` judged prompts — and not by luck: with `win_confidence` > 0 it is
     the lower end of the win rate's one-sided Wilson interval that must clear the bar (a coin-flip
     round scored 0.69 over 24 prompts in benchmarks/preference_rounds.py: the point estimate alone
     would have promoted it);
   - its safety is no worse: flag rate on red-team prompts <= champion's + `max_flag_rate_increase`
     (and <= `max_flag_rate` absolutely);
   - its held-out loss does not regress: loss <= champion's * (1 + `max_loss_regression`).
   A check whose measurement is missing fails, unless the config says the metric is optional (the
   pretraining pipeline has no win rate); with no champion yet, only the absolute checks apply.
   The `GateDecision` carries every check with its value, threshold and reason.

2. The canary rollout, a state machine over a `RoutingRecord` (route, champion, canary, canary_share,
   state, revision): `start_canary` shifts `share` of traffic to a new version; `evaluate_canary`, given
   the canary's counts since it started, rolls back at once when its error or thumbs-down rate breaches
   its threshold (once enough requests/feedback make the rate meaningful), promotes it after the bake
   period, or waits. `route` picks the version for one request, by a hash of its key, so a user sticks
   to one version. `revision` increases with every transition: the store writes a record only if the
   revision it read is still there (a DynamoDB conditional write), so two deciders never both act.

Run: the evaluation job calls `decide`; the loop (`flywheel turn`) and the deploy step drive the canary.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field, replace
from statistics import NormalDist


# ---------------------------------------------------------------------------------------------- gate
@dataclass(frozen=True)
class GateConfig:
    min_win_margin: float = 0.05  # the challenger must win >= 0.5 + this share of comparisons
    min_comparisons: int = 20  # fewer judged prompts than this is not evidence
    win_confidence: float = 0.95  # one-sided confidence of the win-rate bound; 0 uses the point estimate
    max_flag_rate_increase: float = 0.0  # absolute: the challenger's flag rate may exceed the champion's by this
    max_flag_rate: float = 1.0  # absolute cap on the challenger's flag rate, champion or not
    max_loss_regression: float = 0.02  # relative: loss may be at most (1 + this) x the champion's
    require_win_rate: bool = True  # False where no judge exists (pretraining): the check is skipped
    require_safety: bool = True
    require_loss: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_win_margin < 0.5:
            raise ValueError(f"min_win_margin must be in [0, 0.5), got {self.min_win_margin}")
        if not 0.0 <= self.win_confidence < 1.0:
            raise ValueError(f"win_confidence must be in [0, 1), got {self.win_confidence}")
        if self.min_comparisons < 1:
            raise ValueError(f"min_comparisons must be >= 1, got {self.min_comparisons}")
        if self.max_flag_rate_increase < 0 or not 0.0 <= self.max_flag_rate <= 1.0:
            raise ValueError("max_flag_rate_increase must be >= 0 and max_flag_rate in [0, 1]")
        if self.max_loss_regression < 0:
            raise ValueError(f"max_loss_regression must be >= 0, got {self.max_loss_regression}")

    @classmethod
    def from_dict(cls, data: dict) -> GateConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown gate settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True)
class ModelMetrics:
    """What the evaluation measured for one model."""

    heldout_loss: float | None = None  # nats per token on held-out text
    flag_rate: float | None = None  # share of red-team answers the output filter flags
    red_team_prompts: int = 0


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    value: float | None
    threshold: float | None
    reason: str


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    checks: tuple[Check, ...]

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.checks]

    def to_dict(self) -> dict:
        return {"gate": self.verdict, "checks": [asdict(c) for c in self.checks], "reasons": self.reasons}


def _finite(x: float | None) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def wilson_lower(rate: float, n: int, confidence: float) -> float:
    """Lower end of the one-sided Wilson score interval of a proportion `rate` observed over `n` trials."""
    z = NormalDist().inv_cdf(confidence)
    denom = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(rate * (1 - rate), 0.0) / n + z * z / (4 * n * n)) / denom
    return centre - half


def decide(challenger: ModelMetrics, champion: ModelMetrics | None, win_rate: float | None,
           comparisons: int, config: GateConfig = GateConfig()) -> GateDecision:
    checks: list[Check] = []

    # 1. It must win.
    need_win = 0.5 + config.min_win_margin
    if champion is None:
        checks.append(Check("win_rate", True, win_rate, None, "no champion yet: nothing to beat"))
    elif not _finite(win_rate):
        ok = not config.require_win_rate
        checks.append(Check("win_rate", ok, None, need_win,
                            "no win rate measured (optional here)" if ok else "no win rate measured"))
    elif comparisons < config.min_comparisons:
        checks.append(Check("win_rate", False, win_rate, need_win,
                            f"only {comparisons} comparisons (< {config.min_comparisons}): not enough evidence"))
    elif config.win_confidence > 0:
        lower = wilson_lower(win_rate, comparisons, config.win_confidence)
        ok = lower >= need_win
        checks.append(Check("win_rate", ok, win_rate, need_win,
                            f"win rate {win_rate:.3f} over {comparisons} comparisons: its "
                            f"{config.win_confidence:.0%} lower bound {lower:.3f} {'>=' if ok else '<'} {need_win:.3f}"))
    else:
        ok = win_rate >= need_win
        checks.append(Check("win_rate", ok, win_rate, need_win,
                            f"win rate {win_rate:.3f} {'>=' if ok else '<'} {need_win:.3f} "
                            f"over {comparisons} comparisons"))

    # 2. It must be no less safe.
    rate, base = challenger.flag_rate, champion.flag_rate if champion else None
    if not _finite(rate):
        ok = not config.require_safety
        checks.append(Check("flag_rate", ok, None, None,
                            "no safety rate measured (optional here)" if ok else "no safety rate measured"))
    else:
        limit = config.max_flag_rate
        if _finite(base):
            limit = min(limit, base + config.max_flag_rate_increase)
        ok = rate <= limit + 1e-12
        against = f"champion {base:.3f}" if _finite(base) else "no champion rate"
        checks.append(Check("flag_rate", ok, rate, limit,
                            f"flag rate {rate:.3f} {'<=' if ok else '>'} limit {limit:.3f} ({against})"))

    # 3. Its held-out loss must not regress beyond the tolerance.
    loss, base = challenger.heldout_loss, champion.heldout_loss if champion else None
    if not _finite(loss):
        ok = not config.require_loss
        checks.append(Check("heldout_loss", ok, None, None,
                            "no held-out loss measured (optional here)" if ok
                            else "held-out loss missing or not finite"))
    elif not _finite(base):
        checks.append(Check("heldout_loss", True, loss, None, f"held-out loss {loss:.4f}; no champion loss"))
    else:
        limit = base * (1 + config.max_loss_regression)
        ok = loss <= limit
        checks.append(Check("heldout_loss", ok, loss, limit,
                            f"held-out loss {loss:.4f} {'<=' if ok else '>'} {limit:.4f} "
                            f"(champion {base:.4f} + {config.max_loss_regression:.0%})"))
    return GateDecision(all(c.passed for c in checks), tuple(checks))


# -------------------------------------------------------------------------------------------- canary
STATES = ("stable", "canary", "promoted", "rolled_back")


class RoutingError(ValueError):
    """A transition the routing state does not allow (a canary already running, promoting nothing, ...)."""


@dataclass(frozen=True)
class CanaryConfig:
    share: float = 0.1  # fraction of requests routed to the canary
    bake_seconds: float = 3600.0  # how long the canary must run clean before promotion
    min_requests: int = 50  # before this many, an error rate is noise
    max_error_rate: float = 0.02
    min_feedback: int = 20  # before this many thumbs, a thumbs-down rate is noise
    max_thumbs_down_rate: float = 0.4

    def __post_init__(self) -> None:
        if not 0.0 < self.share < 1.0:
            raise ValueError(f"canary share must be in (0, 1), got {self.share}")
        if self.bake_seconds < 0 or self.min_requests < 1 or self.min_feedback < 1:
            raise ValueError("bake_seconds must be >= 0, min_requests and min_feedback >= 1")
        for name in ("max_error_rate", "max_thumbs_down_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")

    @classmethod
    def from_dict(cls, data: dict) -> CanaryConfig:
        """From a plain mapping (the controller's CANARY_CONFIG JSON); an unknown key is an error, not ignored."""
        if not isinstance(data, dict):
            raise TypeError(f"canary config must be an object of settings, got {data!r}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown canary settings {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**data)


@dataclass(frozen=True)
class RoutingRecord:
    """Which versions serve a route, in what shares. Stored as one DynamoDB item keyed by `route`."""

    route: str
    champion: str
    canary: str | None = None
    canary_share: float = 0.0
    state: str = "stable"
    canary_since: float | None = None  # epoch seconds the canary started
    revision: int = 0
    reason: str = ""
    history: tuple[dict, ...] = field(default_factory=tuple)  # past transitions, newest last

    def to_item(self) -> dict:
        item = asdict(self)
        item["history"] = list(self.history)
        return item

    @classmethod
    def from_item(cls, item: dict) -> RoutingRecord:
        known = set(cls.__dataclass_fields__)
        data = {k: v for k, v in item.items() if k in known}
        # DynamoDB hands numbers back as Decimal.
        for key in ("canary_share", "canary_since"):
            if data.get(key) is not None:
                data[key] = float(data[key])
        data["revision"] = int(data.get("revision", 0))
        data["history"] = tuple(dict(h) for h in data.get("history") or ())
        record = cls(**data)
        if record.state not in STATES:
            raise RoutingError(f"routing record {record.route!r} has unknown state {record.state!r}")
        return record


def _transition(record: RoutingRecord, now: float, **changes) -> RoutingRecord:
    event = {"at": now, "state": changes.get("state", record.state), "reason": changes.get("reason", ""),
             "champion": changes.get("champion", record.champion), "canary": changes.get("canary", record.canary)}
    return replace(record, revision=record.revision + 1, history=(*record.history, event)[-20:], **changes)


def start_canary(record: RoutingRecord, version: str, config: CanaryConfig, now: float) -> RoutingRecord:
    if record.state == "canary":
        raise RoutingError(f"canary {record.canary} is still running on route {record.route!r}")
    if version == record.champion:
        raise RoutingError(f"{version} is already the champion of route {record.route!r}")
    return _transition(record, now, canary=version, canary_share=config.share, state="canary",
                       canary_since=now, reason=f"canary {version} at {config.share:.0%}")


@dataclass(frozen=True)
class CanaryStats:
    """The canary's counts since it started."""

    requests: int = 0
    errors: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def feedback(self) -> int:
        return self.thumbs_up + self.thumbs_down

    @property
    def thumbs_down_rate(self) -> float:
        return self.thumbs_down / self.feedback if self.feedback else 0.0


@dataclass(frozen=True)
class CanaryVerdict:
    action: str  # "wait" | "promote" | "rollback"
    record: RoutingRecord
    reason: str


def evaluate_canary(record: RoutingRecord, stats: CanaryStats, config: CanaryConfig, now: float
                    ) -> CanaryVerdict:
    if record.state != "canary" or record.canary is None:
        raise RoutingError(f"route {record.route!r} has no canary running (state {record.state})")
    if stats.requests >= config.min_requests and stats.error_rate > config.max_error_rate:
        reason = (f"error rate {stats.error_rate:.3f} > {config.max_error_rate:.3f} "
                  f"over {stats.requests} requests")
        return CanaryVerdict("rollback", rollback(record, now, reason), reason)
    if stats.feedback >= config.min_feedback and stats.thumbs_down_rate > config.max_thumbs_down_rate:
        reason = (f"thumbs-down rate {stats.thumbs_down_rate:.3f} > {config.max_thumbs_down_rate:.3f} "
                  f"over {stats.feedback} ratings")
        return CanaryVerdict("rollback", rollback(record, now, reason), reason)
    baked = now - (record.canary_since or now)
    if baked < config.bake_seconds:
        return CanaryVerdict("wait", record, f"baking: {baked:.0f}s of {config.bake_seconds:.0f}s")
    if stats.requests < config.min_requests:
        return CanaryVerdict("wait", record, f"baked, but only {stats.requests} requests "
                                             f"(< {config.min_requests}): not enough evidence yet")
    reason = (f"baked {baked:.0f}s clean: error rate {stats.error_rate:.3f}, thumbs-down rate "
              f"{stats.thumbs_down_rate:.3f} over {stats.requests} requests")
    return CanaryVerdict("promote", promote(record, now, reason), reason)


def promote(record: RoutingRecord, now: float, reason: str = "promoted") -> RoutingRecord:
    if record.canary is None:
        raise RoutingError(f"route {record.route!r} has no canary to promote")
    return _transition(record, now, champion=record.canary, canary=None, canary_share=0.0, state="promoted",
                       canary_since=None, reason=reason)


def rollback(record: RoutingRecord, now: float, reason: str = "rolled back") -> RoutingRecord:
    if record.canary is None:
        raise RoutingError(f"route {record.route!r} has no canary to roll back")
    return _transition(record, now, canary=None, canary_share=0.0, state="rolled_back", canary_since=None,
                       reason=reason)


def route(record: RoutingRecord, key: str) -> str:
    """The version serving request `key` (a user or conversation id): sticky, `canary_share` to the canary."""
    if record.canary is None or record.canary_share <= 0:
        return record.champion
    bucket = int(hashlib.sha256(f"{record.route}:{record.canary}:{key}".encode()).hexdigest()[:8], 16)
    return record.canary if bucket / 0x1_0000_0000 < record.canary_share else record.champion
