"""A failing check's diagnoses as the report shows them: each one's id, cause, fix and the evidence line with
where it was found, above the check's message and attachments.

The rows are `jetson_hil.diagnosis.Diagnosis.as_dict()` objects, as summary.json lists them per failing test
(``tests[].diagnoses``); they come from data recorded on the test item, never from its assertion text.

>>> d = {"id": "torch_cpu_build", "cause": "CPU wheel", "fix": "install the Jetson wheel", "where": "probe stdout",
...      "line": 2, "evidence": "cuda_version None"}
>>> evidence_line(d)
'probe stdout:2: cuda_version None'
>>> 'torch_cpu_build' in html_block([d]) and html_block([]) == ""
True
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def evidence_line(d: Mapping[str, Any]) -> str:
    """'<where>:<line>: <the matched line>' (the line number left out when unknown)."""
    line = f":{d['line']}" if d.get("line") else ""
    return f"{d.get('where') or 'input'}{line}: {d.get('evidence') or d.get('match') or ''}"


def merge(have: Sequence[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`have`, then each of `new` whose id is not in it yet (one test's phases may find the same one)."""
    out = [dict(d) for d in have]
    ids = {d.get("id") for d in out}
    for d in new:
        if d.get("id") not in ids:
            out.append(dict(d))
            ids.add(d.get("id"))
    return out


def html_block(diagnoses: Sequence[Mapping[str, Any]]) -> str:
    """The diagnoses as a small table (id, cause, fix, evidence); '' when there are none."""
    if not diagnoses:
        return ""
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (d.get("id"), d.get("cause"), d.get("fix"),
                                                                      evidence_line(d))) + "</tr>"
        for d in diagnoses
    )
    return (
        '<div class="jetson-hil-diagnosis"><b>Diagnosis</b><table class="jetson-hil" border="1" cellpadding="3">'
        f"<tr><th>id</th><th>likely cause</th><th>fix</th><th>evidence</th></tr>{rows}</table></div>"
    )


def failures_html(tests: Iterable[Mapping[str, Any]]) -> str:
    """The page's Failures section: per failed or errored test, its diagnoses above the check and its message;
    '' when nothing failed."""
    failed = [t for t in tests if t.get("outcome") in ("failed", "error")]
    if not failed:
        return ""
    blocks = [
        '<div class="jetson-hil-failed-check">'
        + (html_block(t.get("diagnoses") or []) or "<p><i>(no known failure signature)</i></p>")
        + f"<p><b>{html.escape(str(t['nodeid']))}</b>: {html.escape(str(t.get('message', '')))}</p></div>"
        for t in failed
    ]
    return '<h2 id="jetson-hil-failures">Failures: diagnosis first</h2>' + "".join(blocks)
