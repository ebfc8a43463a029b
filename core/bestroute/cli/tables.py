"""Aligned plain-text tables for command output."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; numbers (cells that parse as floats) right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    lines = [_line(headers, widths, numeric=[False] * len(headers))]
    lines.append("  ".join("-" * width for width in widths))
    for row in rows:
        lines.append(_line(row, widths, numeric=[_is_number(cell) for cell in row]))
    return "\n".join(lines)


def _line(cells: Sequence[str], widths: Sequence[int], numeric: Sequence[bool]) -> str:
    return "  ".join(
        cell.rjust(width) if is_number else cell.ljust(width)
        for cell, width, is_number in zip(cells, widths, numeric, strict=True)
    ).rstrip()


def _is_number(cell: str) -> bool:
    try:
        float(cell.replace("%", ""))
    except ValueError:
        return False
    return True
