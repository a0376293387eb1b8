"""The conformance table: every OCA test case of a charging station (the reference's
station-test-cases.tsv, from Part 6 and Part 5) with what the run of `tests/ocpp201/` made of it.

The list of cases is reference material, which the repository does not copy: it is read from
`../shared/reference/ocpp/station-test-cases.tsv` beside the checkout when that is there, and
otherwise from the case columns of the committed table, which this suite derived from it.

A test named `test_<case id>` (`test_TC_B_01_CS`, or `test_TC_B_01_CS_<more>` for several
tests of one case) judges its case: pass when all its tests passed, fail when one failed.
A case no test names is not applicable when `not_applicable.yaml` says why, else not yet
automated. The table is only written, or checked, from a run of the whole suite (`Verdict`
says when a run was that); under CI a table that differs from the committed one fails the run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CASES = ROOT / ".." / "shared" / "reference" / "ocpp" / "station-test-cases.tsv"
NOT_APPLICABLE = HERE / "not_applicable.yaml"
TABLE = ROOT / "docs" / "ocpp201-conformance.md"
_CASE = re.compile(r"test_(TC_[A-P]_\d+_CS)(?:_|\[|\s|$)")
_CASE_ID = re.compile(r"TC_[A-P]_\d+_CS")


@dataclass(frozen=True)
class Case:
    id: str
    profile: str
    requirement: str
    name: str
    use_cases: str = ""  # only the reference's list has them; the table leaves them out

    @property
    def core_mandatory(self) -> bool:
        return self.profile == "Core" and self.requirement == "CS:M"


def cases(reference: Path = CASES, table: Path = TABLE) -> list[Case]:
    """Every case, in the list's order: from the reference when it is there, else from the
    committed table (a case's name there has "/" for any "|")."""
    if reference.exists():
        return cases_of_reference(reference.read_text())
    return cases_of_table(table.read_text())


def cases_of_reference(text: str) -> list[Case]:
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        case_id, profile, requirement, use_cases, name = line.split("\t")[:5]
        rows.append(Case(case_id, profile, requirement, name, use_cases))
    return rows


def cases_of_table(text: str) -> list[Case]:
    rows = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and _CASE_ID.fullmatch(cells[0]):
            rows.append(Case(cells[0], cells[1], cells[2], cells[3]))
    return rows


def not_applicable(path: Path = NOT_APPLICABLE) -> dict[str, str]:
    reasons = yaml.safe_load(path.read_text()) or {}
    assert isinstance(reasons, dict), f"{path}: a mapping of case id to reason"
    return {str(case): " ".join(str(why).split()) for case, why in reasons.items()}


def case_of(test_name: str) -> str | None:
    """The case a test judges, from its name."""
    match = _CASE.match(test_name)
    return match.group(1) if match else None


@dataclass
class Outcomes:
    """What the run's tests said, per case."""

    passed: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, list[str]] = field(default_factory=dict)

    def add(self, test_name: str, ok: bool) -> None:
        case = case_of(test_name)
        if case is not None:
            (self.passed if ok else self.failed).setdefault(case, []).append(test_name)


def verdicts(
    all_cases: Iterable[Case], outcomes: Outcomes, reasons: dict[str, str]
) -> list[tuple[Case, str, str]]:
    """(case, result, why) for every case, in the list's order."""
    rows = []
    for case in all_cases:
        if case.id in outcomes.failed:
            rows.append((case, "fail", ", ".join(outcomes.failed[case.id])))
        elif case.id in outcomes.passed:
            rows.append((case, "pass", ", ".join(outcomes.passed[case.id])))
        elif case.id in reasons:
            rows.append((case, "not applicable", reasons[case.id]))
        else:
            rows.append((case, "not yet automated", ""))
    return rows


def render(rows: list[tuple[Case, str, str]]) -> str:
    def count(result: str, only_core: bool = False) -> int:
        return sum(
            1 for case, got, _ in rows if got == result and (case.core_mandatory or not only_core)
        )

    core = sum(1 for case, _, _ in rows if case.core_mandatory)
    lines = [
        "# OCPP 2.0.1 conformance of the station",
        "",
        "Written by `tests/ocpp201/` (its conftest) from a run of the whole suite; do not edit.",
        "Every charging-station test case of OCA Part 6 (Core and Advanced Security,",
        "2023-06-30, profiles from Part 5) with what the run made of it: **pass** and",
        "**fail** name the tests that judged the case, **not applicable** says why",
        "(`tests/ocpp201/not_applicable.yaml`), **not yet automated** has no test yet.",
        "",
        "| | all cases | Core mandatory |",
        "|---|---|---|",
    ]
    for result in ("pass", "fail", "not applicable", "not yet automated"):
        lines.append(f"| {result} | {count(result)} | {count(result, only_core=True)} |")
    lines += [f"| total | {len(rows)} | {core} |", ""]
    lines += [
        "| case | profile | | name | result | tests, or why |",
        "|---|---|---|---|---|---|",
    ]
    for case, result, why in rows:
        name = case.name.replace("|", "/")
        lines.append(
            f"| {case.id} | {case.profile} | {case.requirement} | {name} | {result} | {why} |"
        )
    return "\n".join(lines) + "\n"


@dataclass
class Verdict:
    """Whether a run covered the whole suite, and so may judge the table."""

    suite: Path = HERE
    collected: set[str] = field(default_factory=set)  # node ids of the suite's tests
    ran: set[str] = field(default_factory=set)
    deselected: bool = False
    whole_suite_asked: bool = False

    def asked_for(self, args: Iterable[str], rootdir: Path) -> None:
        """Whether the command line named the suite, or a folder holding it, as a whole."""
        for arg in args:
            if "::" in arg:
                continue
            path = Path(arg)
            path = (path if path.is_absolute() else rootdir / path).resolve()
            if path == self.suite or self.suite.is_relative_to(path):
                self.whole_suite_asked = True

    def judges(self) -> bool:
        return (
            self.whole_suite_asked
            and not self.deselected
            and bool(self.collected)
            and self.collected <= self.ran
        )
