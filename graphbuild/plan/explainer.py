"""The explainer: a plan for people, as text for a terminal or markdown for a pull request comment.

It reads the same frozen plan the evaluator applies; ``--format json`` is ``Plan.to_dict()``.

>>> # print(explain(plan, "markdown", done=frozenset()))
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from graphbuild.plan.definition import Phase, Plan, Step

__all__ = ["explain", "summary"]


def summary(plan: Plan) -> dict[str, object]:
    by_phase: dict[str, int] = defaultdict(int)
    for step in plan.steps:
        by_phase[step.phase.name.lower()] += 1
    return {
        "steps": len(plan.steps),
        "targets": len({s.label for s in plan.steps}),
        "estimate_s": round(sum(s.estimate_s for s in plan.steps), 1),
        "by_phase": dict(by_phase),
        "not_pointer_revertible": [s.id for s in plan.steps if s.reversibility.value != "pointer-revertible"],
    }


def explain(plan: Plan, fmt: str = "text", *, done: Iterable[str] = (), approvals: tuple[str, ...] = (), required: int = 0) -> str:
    done = frozenset(done)
    facts = summary(plan)
    head = _title(plan)
    if fmt == "markdown":
        lines = [f"### {head}", ""]
        lines += [
            "| | |",
            "| --- | --- |",
            f"| plan | `{plan.id[:12]}` |",
            f"| commit | `{_short(plan.commit)}` by {plan.author} |",
            f"| replaces | `{(plan.previous or 'nothing (first deploy)')[:12]}` |",
            f"| steps | {facts['steps']} on {facts['targets']} targets, about {_duration(float(facts['estimate_s']))} |",
            f"| approvals | {len(approvals)} of {required}{': ' + ', '.join(approvals) if approvals else ''} |",
            "",
        ]
        for phase, steps in _phases(plan.steps):
            lines += [f"**{phase.name.title()}**", "", "| # | step | change | reversibility | est. |", "| --- | --- | --- | --- | --- |"]
            for step in steps:
                mark = " (done)" if step.key in done else ""
                notes = "<br>".join(step.notes) or ("retire" if step.operation == "retire" else "")
                lines.append(
                    f"| {plan.steps.index(step) + 1} | `{step.id}`{mark} | {notes} | {step.reversibility.value} | {_duration(step.estimate_s)} |"
                )
            lines.append("")
        if plan.notes:
            lines += ["**Stays applied after this rollback**", ""] + [f"- {note}" for note in plan.notes] + [""]
        if not plan.steps:
            lines.append("Nothing to change: the environment already runs these fingerprints.")
        return "\n".join(lines).rstrip() + "\n"
    lines = [head, f"  plan {plan.id[:12]}  commit {_short(plan.commit)}  author {plan.author}  replaces {(plan.previous or 'nothing')[:12]}"]
    lines.append(f"  {facts['steps']} steps on {facts['targets']} targets, estimated {_duration(float(facts['estimate_s']))}")
    if required:
        lines.append(f"  approvals: {len(approvals)} of {required}" + (f" ({', '.join(approvals)})" if approvals else ""))
    for phase, steps in _phases(plan.steps):
        lines.append(f"{phase.name.lower()}:")
        for step in steps:
            mark = "done " if step.key in done else ""
            op = "retire " if step.operation == "retire" else ""
            lines.append(f"  {plan.steps.index(step) + 1:>3}. {mark}{op}{step.id}  [{step.reversibility.value}, ~{_duration(step.estimate_s)}]")
            lines += [f"       {note}" for note in step.notes]
    if plan.notes:
        lines.append("stays applied after this rollback (needs --confirm):")
        lines += [f"  {note}" for note in plan.notes]
    if not plan.steps:
        lines.append("nothing to change: the environment already runs these fingerprints")
    return "\n".join(lines)


def _title(plan: Plan) -> str:
    if plan.kind == "rollback":
        return f"Rollback of {plan.env} to plan {(plan.restores or '')[:12]} (commit {_short(plan.commit)})"
    return f"Deploy plan for {plan.env}"


def _phases(steps: tuple[Step, ...]) -> list[tuple[Phase, list[Step]]]:
    grouped: dict[Phase, list[Step]] = defaultdict(list)
    for step in steps:
        grouped[step.phase].append(step)
    return sorted(grouped.items())


def _short(commit: str) -> str:
    return commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
