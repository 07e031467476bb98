"""Instructions per 1,000-event payload, counted by valgrind's callgrind.

CPU time on this 2-CPU VM moves 10-30% between runs (and over a day), which hides
a 10% step; an instruction count does not move. It is no measure of time (cache
misses and the kernel's work are not in it), so `make bench` still decides; this
shows whether a change does less work.

    .venv/bin/python bench/instructions.py [--against REV]

For Fluent Bit records and access-log extractedFields: `make_documents` alone,
and the whole handler on a payload against the loopback stand-in (whose work is
not counted). Each figure is a child that does the work on the payloads, less one
that only reads them, divided by the payloads. `--against REV` counts a git
revision's code beside this one's. Needs valgrind; a run takes a few minutes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import payload_gen  # noqa: E402
from harness.standin import StandIn  # noqa: E402

PAYLOADS = 4  # of 1,000 events each; the count is exact, so a few suffice
BATCHES = {"Fluent Bit records": payload_gen.CLEAN_SHAPES, "access log, extractedFields": (9,)}

CHILD = r"""
import base64, gzip, sys
from forwarder.documents import transform
from forwarder.sources import decode
what, work, paths = sys.argv[1], sys.argv[2] == "work", sys.argv[3:]
raws = [open(path, "rb").read() for path in paths]
if what == "documents":
    for raw in raws[1:]:
        payload = decode.parse_payload(raw)
        if work:
            transform.make_documents(payload, transform.Shape())
else:
    from forwarder import handler
    from forwarder.tools.local import LocalContext
    events = [{"awslogs": {"data": base64.b64encode(gzip.compress(raw)).decode()}} for raw in raws]
    handler.lambda_handler(events[0], LocalContext())  # connections made, caches warm
    if work:
        for event in events[1:]:
            handler.lambda_handler(event, LocalContext())
"""


def counted(what: str, work: str, paths: list[Path], env: dict[str, str]) -> int:
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", CHILD, what, work]
        + [str(path) for path in paths],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"instructions: no count from callgrind:\n{done.stderr[-500:]}")
    return int(found.group(1))


def per_payload(what: str, paths: list[Path], env: dict[str, str]) -> float:
    return (counted(what, "work", paths, env) - counted(what, "read", paths, env)) / (len(paths) - 1)


def main(argv: list[str]) -> int:
    if shutil.which("valgrind") is None:
        raise SystemExit("instructions: valgrind is not installed (apt install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        sources = {"this tree": None}
        if argv[:1] == ["--against"]:
            worktree = Path(tmp) / "against"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), argv[1]], check=True)
            sources[f"revision {argv[1]}"] = worktree / "src"
        try:
            for label, shapes in BATCHES.items():
                paths = []
                for n in range(1 + PAYLOADS):  # the first one warms up
                    path = Path(tmp) / f"{label.split()[0]}-{n}.json"
                    doc = payload_gen.payloads(seed=100 + n, count=1, events=1000, shapes=shapes)[0]
                    path.write_text(json.dumps(doc))
                    paths.append(path)
                print(f"{label}: instructions per 1,000-event payload")
                for name, source in sources.items():
                    with StandIn() as standin:
                        env = {**os.environ, **standin.env(), "AWS_LAMBDA_FUNCTION_NAME": "bench"}
                        env["POWERTOOLS_LOG_LEVEL"] = "INFO"  # as deployed
                        if source is not None:
                            env["PYTHONPATH"] = str(source)
                        documents, whole = per_payload("documents", paths, env), per_payload("handler", paths, env)
                    print(f"  {name:<24} make_documents {documents / 1e6:6.2f} M   handler {whole / 1e6:6.2f} M")
        finally:
            if len(sources) > 1:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
