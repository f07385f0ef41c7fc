"""One row of counts per scenario, and the table they make."""

from dataclasses import dataclass, field


@dataclass
class Row:
    scenario: str
    created: int = 0  # POST /order answered 201
    refused: int = 0  # POST /order attempts answered with an error, or not at all (information)
    # Orders stored although an attempt to create them failed: the client's retry got a replay
    # of it, or no attempt ever got a 201 (information)
    unanswered_but_stored: int = 0
    lost: int = 0
    stuck: int = 0
    double_charged: int = 0
    cancelled_but_charged: int = 0
    illegal: int = 0
    inconsistent: int = 0
    crashed: int = 0  # processes that died by themselves (restarted, as a supervisor would)
    recovery: float | None = None  # None: not settled before the deadline
    notes: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    VIOLATIONS = (
        "lost",
        "stuck",
        "double_charged",
        "cancelled_but_charged",
        "illegal",
        "inconsistent",
        "crashed",
    )

    def violations(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.VIOLATIONS if getattr(self, name)}

    def example(self, kind: str, number: str, detail: str) -> None:
        if len(self.examples) < 12:
            self.examples.append(f"{kind} {number}: {detail}")


COLUMNS = [
    ("scenario", 34, None),
    ("created", 8, "created"),
    ("refused", 8, "refused"),
    ("stored*", 8, "unanswered_but_stored"),
    ("lost", 5, "lost"),
    ("stuck", 6, "stuck"),
    ("double-charged", 15, "double_charged"),
    ("cancelled-but-charged", 22, "cancelled_but_charged"),
    ("illegal", 8, "illegal"),
    ("inconsistent", 13, "inconsistent"),
    ("crashed", 8, "crashed"),
    ("recovery s", 10, None),
]
LEGEND = [
    "refused: POST /order attempts answered with an error or not at all (the client retries with",
    "  the same Idempotency-Key); stored*: orders stored although an attempt to create them failed",
    "  (information, not asserted). illegal: history rows outside ALLOWED_TRANSITIONS or that",
    "  change no state, histories that do not start with None -> created, do not chain or do not",
    "  end in the order's state. inconsistent: state, history, events and payment disagree",
    "  (confirmed/delivered without a confirmed payment, cancelled by a decline without a declined",
    "  one, another amount or transaction, a payment without an order, a refund or a late result",
    "  or 'nothing to refund' that Payments does not show, an event recorded twice or on an order",
    "  not cancelled; an order refused on purpose that transitioned, got an event or another",
    "  payment).",
    "  crashed: processes that died by themselves (restarted, as a supervisor would). recovery:",
    "  from the end of the fault until every order had settled (decided, consistent, no refund",
    "  due).",
]


def format_table(rows: list[Row]) -> str:
    def line(cells) -> str:
        return "  ".join(
            str(c).ljust(width) if i == 0 else str(c).rjust(width)
            for i, (c, (_, width, _)) in enumerate(zip(cells, COLUMNS, strict=True))
        )

    def cells(row: Row, recovery: str) -> list:
        counts = [getattr(row, attr) for _, _, attr in COLUMNS[1:-1]]
        return [row.scenario, *counts, recovery]

    rule = line(["-" * width for _, width, _ in COLUMNS])
    out = [line([name for name, _, _ in COLUMNS]), rule]
    for row in rows:
        out.append(line(cells(row, "timeout" if row.recovery is None else f"{row.recovery:.1f}")))
    total = Row("total")
    for _, _, attr in COLUMNS[1:-1]:
        setattr(total, attr, sum(getattr(row, attr) for row in rows))
    recoveries = [row.recovery for row in rows]
    worst = "timeout" if None in recoveries else f"max {max(recoveries, default=0):.1f}"
    out += [rule, line(cells(total, worst)), "", *LEGEND, ""]
    out += [f"{row.scenario}: {'; '.join(row.notes)}" for row in rows if row.notes]
    return "\n".join(out)
