"""Encode each decoded payload in events/src/ into a Lambda event in events/.

A CloudWatch Logs subscription event is {"awslogs": {"data": base64(gzip(payload JSON))}}.
Add a payload to events/src/ and run `make events` to get its event.
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
from pathlib import Path


def encode_payload(payload: object) -> dict[str, dict[str, str]]:
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    data = base64.b64encode(gzip.compress(raw, mtime=0)).decode()
    return {"awslogs": {"data": data}}


def main(events_dir: Path) -> None:
    for source in sorted((events_dir / "src").glob("*.json")):
        event = encode_payload(json.loads(source.read_text(encoding="utf-8")))
        target = events_dir / source.name
        target.write_text(json.dumps(event, indent=2) + "\n", encoding="utf-8")
        print(f"{source} -> {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "events"))
