"""What the engine can tell about a model's wiring from its profile and its input.

:class:`ProfileChecks` is called by :class:`~mlscope.engine.model.ModelEngine` when the
model is added, on each batch of events and on each batch of labels, and reports to
:class:`~mlscope.misconfigurations.Misconfigurations` (a WARNING and
``mlscope_misconfiguration{model,kind}``):

- ``no_target``: the profile was built without ``--target``; quality has no reference
  figure, so the alerts comparing with it can never fire;
- ``unknown_feature_names`` / ``missing_feature_names``: a batch names features the
  profile does not know, or leaves out ones it does (each with the closest name of the
  other side, so ``mean_radius`` points at ``mean radius``).

Labels whose id matched no prediction are only logged (at most once a minute per
model): they are counted in ``mlscope_labels_total{outcome="unmatched"}``, whose share
of all labels is what an alert watches (a few are normal after a restart).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Collection, Iterable

from mlscope.engine.profile import Profile
from mlscope.logs import RateLimitedLog
from mlscope.misconfigurations import ENGINE_KINDS, Misconfigurations, names_list

_unmatched_log = RateLimitedLog(logging.getLogger("mlscope.quality"), 60.0)


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``name`` (case and separators aside), or None when none is close."""
    by_key: dict[str, str] = {}
    for c in candidates:
        by_key.setdefault(_loose(c), c)
    hits = difflib.get_close_matches(_loose(name), list(by_key), n=1, cutoff=0.6)
    return by_key[hits[0]] if hits else None


def _loose(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _with_hints(names: Iterable[str], other_side: Collection[str]) -> str:
    hinted = []
    for n in names:
        near = closest(n, other_side)
        hinted.append(f"{n!r} (closest: {near!r})" if near is not None else repr(n))
    return names_list(hinted, quote=False)


class ProfileChecks:
    """The misconfiguration checks of one model against its profile."""

    def __init__(self, model: str, profile: Profile, misconfig: Misconfigurations) -> None:
        self.model = model
        self.misconfig = misconfig
        # What a caller logs: raw text / embedding columns, not the features derived from them.
        self._known = frozenset(profile.logged_names)
        self._no_target = profile.target is None
        misconfig.declare(model, ENGINE_KINDS)
        if self._no_target:
            text = self._no_target_text(profile)
            misconfig.report(model, "no_target", text, occasion="start", lasting=True)

    @staticmethod
    def _no_target_text(profile: Profile) -> str:
        task = "" if profile.task else " and no task (it will be guessed from the first predictions)"
        return (
            "the reference profile has no target column" + task + ": model quality has no reference "
            "figure, so the alerts that compare it with the reference can never fire"
        )

    def batch(self, names: Collection[str]) -> None:
        """Check the feature names of one batch of events (a few set operations)."""
        seen = names if isinstance(names, frozenset) else frozenset(names)
        if seen == self._known:
            return
        unknown = seen - self._known
        missing = self._known - seen
        if unknown:
            self.misconfig.report(
                self.model,
                "unknown_feature_names",
                lambda: f"{len(unknown)} logged feature name(s) are not in the profile: "
                f"{_with_hints(sorted(unknown), self._known)}",
            )
        if missing:
            self.misconfig.report(
                self.model,
                "missing_feature_names",
                lambda: f"{len(missing)} feature(s) of the profile were not logged (counted as "
                f"missing_feature): {_with_hints(sorted(missing), unknown)}",
            )

    def labels(self, n: int) -> None:
        """Labels arrived: without a target in the profile, say again what they cannot do."""
        if self._no_target and n:
            self.misconfig.report(
                self.model,
                "no_target",
                f"{n} label(s) arrived, but the reference profile has no target column: they are "
                "joined, yet no reference quality exists to compare with",
                occasion="labels",
                lasting=True,
            )

    def unmatched(self, n: int, of: int, examples: list[str]) -> None:
        """``n`` of ``of`` labels found no prediction with their id: say so, rate-limited."""
        if n:
            _unmatched_log.warning(
                self.model,
                "model %r: %d of %d label(s) matched no logged prediction (ids such as %s); labels must "
                "carry the ids given to Monitor.log(ids=...) or the events' \"id\", and arrive within "
                "'labels.ttl' [mlscope_labels_total{outcome=\"unmatched\"}]",
                self.model,
                n,
                of,
                names_list(examples),
                model=self.model,
                event_type="unmatched_labels",
            )
