"""`forwarder invoke` runs the same handler locally; `make demo` and events/ work as the README says."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import payload_gen
from harness.reference import require_reference
from harness.standin import StandIn

from forwarder import handler
from forwarder.delivery import bulk
from forwarder.documents import transform
from forwarder.sources import decode
from forwarder.tools import cli

REPO = Path(__file__).resolve().parents[1]
EVENTS = REPO / "events"
MAX = 64 * 1024 * 1024


def forwarder(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The console script in a fresh process, as a user runs it."""
    return subprocess.run(
        [Path(sys.executable).parent / "forwarder", *args], capture_output=True, text=True, env=env, timeout=60
    )


def expected_body(path: Path) -> bytes:
    payload = decode.decode_event(json.loads(path.read_text()), MAX)
    return bulk.ndjson(transform.to_documents(payload, "mydata"))


def test_dry_run_prints_the_exact_bulk_body_and_sends_nothing(capfdbinary, monkeypatch) -> None:
    monkeypatch.delenv("OPENSEARCH_ENDPOINT", raising=False)
    assert cli.main(["invoke", str(EVENTS / "eks-fluentd.json"), "--dry-run"]) == 0
    out = capfdbinary.readouterr().out
    assert out == expected_body(EVENTS / "eks-fluentd.json")
    assert len(out.splitlines()) == 10


def test_dry_run_for_serverless_sends_no_document_id(capfdbinary, monkeypatch) -> None:
    monkeypatch.setenv("OPENSEARCH_SERVICE", "aoss")
    assert cli.main(["invoke", str(EVENTS / "eks-fluentd.json"), "--dry-run"]) == 0
    actions = [json.loads(line) for line in capfdbinary.readouterr().out.splitlines()[::2]]
    assert len(actions) == 5 and all(set(action["index"]) == {"_index"} for action in actions)


def test_dry_run_prints_what_would_be_sent_after_redaction(capfdbinary, monkeypatch) -> None:
    monkeypatch.setenv("REDACT_IPS", "true")
    assert cli.main(["invoke", str(EVENTS / "extracted-fields.json"), "--dry-run"]) == 0
    sources = [json.loads(line) for line in capfdbinary.readouterr().out.splitlines()[1::2]]
    assert sources and all("[IP]" in source["@message"] for source in sources)


def test_dry_run_of_a_control_message_prints_nothing(capfd) -> None:
    assert cli.main(["invoke", str(EVENTS / "control-message.json"), "--dry-run"]) == 0
    assert capfd.readouterr().out == ""


def test_bad_input_exits_non_zero_with_the_typed_error_on_stderr(tmp_path, capfd) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"awslogs": {"data": "bm90IGd6aXA="}}))
    assert cli.main(["invoke", str(bad), "--dry-run"]) == 1
    captured = capfd.readouterr()
    assert captured.out == ""
    assert "NotGzipError: awslogs.data is not gzip" in captured.err


def test_a_missing_file_is_a_clear_error(capfd) -> None:
    assert cli.main(["invoke", "no/such/event.json", "--dry-run"]) == 1
    assert "no/such/event.json: no such file or directory" in capfd.readouterr().err


def test_invoke_sends_to_the_endpoint_and_prints_the_report(forwarder_env: StandIn, tmp_path, capfd) -> None:
    path = tmp_path / "e.json"
    path.write_text(json.dumps(payload_gen.event_for(payload_gen.clean_payload(seed=5, events=20))))
    assert cli.main(["invoke", str(path)]) == 0
    captured = capfd.readouterr()
    (report,) = [json.loads(line) for line in captured.out.splitlines()]
    assert (report["status"], report["indexed"], report["failed"]) == ("ok", 20, 0)
    assert forwarder_env.count() == 20
    assert captured.err == "", "no Lambda log lines or EMF metrics on a local run unless --verbose"


def test_verbose_shows_the_lambdas_log_lines_and_metrics_on_stderr(forwarder_env: StandIn, capfd) -> None:
    assert cli.main(["invoke", str(EVENTS / "lambda.json"), "--verbose"]) == 0
    captured = capfd.readouterr()
    assert json.loads(captured.out)["status"] == "ok", "stdout keeps the report"
    lines = [json.loads(line) for line in captured.err.splitlines()]
    assert [line["report"]["indexed"] for line in lines if line.get("message") == "bulk report"] == [4]
    assert [line["Indexed"] for line in lines if "_aws" in line] == [[4.0]], "the invocation's EMF line"


def test_where_the_dead_lettered_went_is_one_line_on_stderr(forwarder_env: StandIn, dead_letter, capfd) -> None:
    forwarder_env.item_fault = lambda index, doc_id, source: (403, "cluster_block_exception", "index blocked")
    assert cli.main(["invoke", str(EVENTS / "lambda.json")]) == 0
    captured = capfd.readouterr()
    assert json.loads(captured.out)["status"] == "dead_lettered"
    (line,) = captured.err.splitlines()
    assert re.fullmatch(
        rf"forwarder: 4 documents dead-lettered in s3://{dead_letter.name}/dead-letter/\S+ "
        r"\(first: cluster_block_exception: index blocked\)",
        line,
    ), line


def on_a_terminal(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """The console script with stdout and stderr on a pseudo-terminal, as a person runs it."""
    import pty

    ours, theirs = pty.openpty()
    process = subprocess.Popen(
        [Path(sys.executable).parent / "forwarder", *args],
        stdin=subprocess.DEVNULL,
        stdout=theirs,
        stderr=theirs,
        env=env,
    )
    os.close(theirs)
    chunks = []
    while True:
        try:
            chunk = os.read(ours, 65536)
        except OSError:  # EIO: the other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(ours)
    return process.wait(timeout=60), b"".join(chunks).decode().replace("\r\n", "\n")


def test_on_a_terminal_each_report_is_a_sentence_without_lambda_noise(standin: StandIn) -> None:
    status, shown = on_a_terminal("invoke", str(EVENTS), env={**os.environ, **standin.env()})
    assert status == 0, shown
    assert shown.splitlines() == [
        f"{EVENTS / 'control-message.json'}: control message (CloudWatch checking the destination): nothing to send",
        f"{EVENTS / 'eks-fluentd.json'}: ok: 5 events: 5 indexed (1 request)",
        f"{EVENTS / 'extracted-fields.json'}: ok: 2 events: 1 indexed, 1 indexed in the safe form (2 requests)",
        f"{EVENTS / 'lambda.json'}: ok: 4 events: 4 indexed (1 request)",
    ]


def test_json_on_a_terminal_and_quiet_anywhere(standin: StandIn) -> None:
    env = {**os.environ, **standin.env()}
    status, shown = on_a_terminal("invoke", str(EVENTS / "lambda.json"), "--json", env=env)
    assert status == 0 and json.loads(shown)["indexed"] == 4
    status, shown = on_a_terminal("invoke", str(EVENTS / "lambda.json"), "--quiet", env=env)
    assert (status, shown) == (0, "")
    done = forwarder("invoke", str(EVENTS / "lambda.json"), "-q", env=env)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert standin.count() == 4, "three runs, each overwriting the same 4 _ids"


def test_an_unreachable_endpoint_says_so_at_once_then_one_line_per_retry_round() -> None:
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {**os.environ, "OPENSEARCH_ENDPOINT": f"http://127.0.0.1:{port}", "AWS_REGION": "us-east-1"}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", RETRY_MAX_SECONDS="2")
    status, shown = on_a_terminal("invoke", str(EVENTS / "lambda.json"), env=env)
    first, *rounds, last = shown.splitlines()
    assert status == 1
    assert first == (
        f"forwarder: cannot connect to http://127.0.0.1:{port}: [Errno 111] Connection refused. "
        "Retrying for up to 2 s (RETRY_MAX_SECONDS); Ctrl-C stops"
    )
    assert rounds and all(
        re.fullmatch(rf"forwarder: retry {n}: 4 documents in \d+\.\d s, \d+\.\d s left; last: the same error", line)
        for n, line in enumerate(rounds, 2)
    ), rounds
    requests = int(re.search(r"\((\d+) requests", last)[1])  # type: ignore[index]
    assert len(rounds) <= requests <= len(rounds) + 2, "the first, one per round, but none past the deadline"
    assert last == (
        f"{EVENTS / 'lambda.json'}: failed: 4 events: 4 not delivered ({requests} requests, 4 documents re-sent); "
        f"first: transport_error: retry time ran out; last: cannot connect to http://127.0.0.1:{port}: "
        "[Errno 111] Connection refused"
    )


def test_the_console_script_runs_the_handler_in_a_fresh_process(standin: StandIn) -> None:
    env = {**os.environ, **standin.env()}
    done = forwarder("invoke", str(EVENTS), env=env)
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["status"] for r in reports] == ["control_message", "ok", "ok", "ok"]
    assert standin.count() == 11


def test_a_wrong_setting_fails_with_the_variable_named(tmp_path) -> None:
    env = {
        **os.environ,
        "OPENSEARCH_ENDPOINT": "http://127.0.0.1:1",
        "AWS_REGION": "us-east-1",
        "INDEX_PREFIX": "Bad Prefix",
    }
    done = forwarder("invoke", str(EVENTS / "lambda.json"), env=env)
    assert done.returncode == 1
    assert "ConfigError: INDEX_PREFIX='Bad Prefix' is not accepted" in done.stderr


def test_powertools_service_name_names_the_service_in_the_log_lines(standin: StandIn) -> None:
    env = {**os.environ, **standin.env(), "POWERTOOLS_SERVICE_NAME": "payments-forwarder"}
    done = forwarder("invoke", str(EVENTS / "lambda.json"), "--verbose", env=env)
    assert done.returncode == 0, done.stderr
    report = next(json.loads(line) for line in done.stderr.splitlines() if '"bulk report"' in line)
    assert report["service"] == "payments-forwarder"


@pytest.mark.parametrize(("value"), ["", "  ", "AWS/Lambda", "x" * 256])
def test_a_metrics_namespace_cloudwatch_refuses_is_one_line_naming_the_variable(value) -> None:
    env = {**os.environ, "OPENSEARCH_ENDPOINT": "http://127.0.0.1:1", "AWS_REGION": "us-east-1"}
    env["POWERTOOLS_METRICS_NAMESPACE"] = value
    done = forwarder("invoke", str(EVENTS / "lambda.json"), env=env)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        f"forwarder: ConfigError: POWERTOOLS_METRICS_NAMESPACE={value!r} is not accepted: give 1-255 "
        "characters, not starting with AWS/ (unset, it is CwlOpenSearchForwarder)"
    ]


@pytest.mark.parametrize(("variable", "value"), [("POWERTOOLS_LOG_LEVEL", "LOUD"), ("LOG_LEVEL", " info")])
def test_a_log_level_powertools_does_not_know_is_one_line_naming_the_variable(variable, value) -> None:
    env = {**os.environ, "OPENSEARCH_ENDPOINT": "http://127.0.0.1:1", "AWS_REGION": "us-east-1", variable: value}
    env.pop("POWERTOOLS_LOG_LEVEL" if variable == "LOG_LEVEL" else "LOG_LEVEL", None)
    done = forwarder("invoke", str(EVENTS / "lambda.json"), "--dry-run", env=env)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        f"forwarder: ConfigError: {variable}={value!r} is not a log level: "
        "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any case)"
    ]


def run_demo(env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py"), str(EVENTS)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


@pytest.mark.opensearch
def test_make_demo_shows_what_a_real_node_stored(real_node_possible: None) -> None:
    """The demo starts a node of its own."""
    out = run_demo().stdout
    assert "OpenSearch 2.19.6 on http://127.0.0.1:" in out
    assert "indices (11 documents), read back with opensearch-py:" in out
    assert re.search(r"mydata-lambda-checkout-handler-2026\.11\.22 +4 documents\n", out)
    assert "in the safe form: mydata-web-nginx-ingress-2026.11.23/_doc/" in out
    assert "search @message:error across mydata-*: 1 hit\n" in out
    assert "from the index template: @fallback_reason: text, @fields_json: text, @id: keyword" in out
    assert "@timestamp: date" in out
    assert "ISM explain: no ISM plugin in this node" in out


def test_make_demo_says_why_it_falls_back_to_the_standin(tmp_path) -> None:
    java = tmp_path / "bin" / "java"  # a Java the node does not run on
    java.parent.mkdir()
    java.write_text("#!/bin/sh\necho '    java.specification.version = 1.8' >&2\n")
    java.chmod(0o755)
    out = run_demo({**os.environ, "JAVA_HOME": str(tmp_path)}).stdout
    first = out.splitlines()[0]
    assert first == (
        "make demo: using the stand-in (harness/standin.py), not a real OpenSearch node: "
        f"{java} is Java 8; OpenSearch 2.19 runs on Java 11-21 (set JAVA_HOME to a Java 17)"
    )
    assert "indexed (11 documents, 4 signed _bulk requests)" in out
    assert "mydata-lambda-checkout-handler-2026.11.22             4 documents\n" in out
    assert "sample document" in out


def test_events_are_the_encoding_of_events_src(tmp_path) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    from make_events import encode_payload

    sources = sorted((EVENTS / "src").glob("*.json"))
    assert {p.name for p in sources} == {p.name for p in EVENTS.glob("*.json")}
    for source in sources:
        event = json.loads((EVENTS / source.name).read_text())
        assert event == encode_payload(json.loads(source.read_text())), f"run `make events` for {source.name}"


@pytest.mark.parametrize(
    ("args", "example"),
    [
        (["--help"], "forwarder invoke events/"),
        (["invoke", "--help"], "forwarder invoke events/"),
        (["replay", "--help"], "forwarder replay s3://"),
        (["backfill", "--help"], "forwarder backfill /aws/lambda/checkout --start -7d"),
        (["bench", "--help"], "forwarder bench events/eks-fluentd.json"),
        (["encode", "--help"], "forwarder encode - --log-group"),
    ],
)
def test_help_shows_an_example(args, example, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(args)
    assert exited.value.code == 0
    assert example in capsys.readouterr().out


def test_bench_times_the_hot_path_of_each_event_file(capsys) -> None:
    assert cli.main(["bench", str(EVENTS / "lambda.json"), str(EVENTS / "eks-fluentd.json"), "--iterations", "5"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["file"].rsplit("/", 1)[-1], line["events"]) for line in lines] == [
        ("lambda.json", 4),
        ("eks-fluentd.json", 5),
    ]
    assert all(line["ms_per_payload"] > 0 for line in lines)


def test_bench_refuses_a_non_positive_iteration_count(capsys) -> None:
    assert cli.main(["bench", str(EVENTS / "lambda.json"), "--iterations", "0"]) == 1
    assert "--iterations 0: give a positive number of runs" in capsys.readouterr().err


def test_the_node_benchmark_times_the_same_event() -> None:
    node = require_reference()
    done = subprocess.run(
        [node, str(REPO / "bench" / "reference.js"), "3", str(EVENTS / "lambda.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(done.stdout)
    assert answer["events"] == 4 and answer["ms_per_payload"] > 0


def test_encode_makes_the_event_cloudwatch_would_send(tmp_path, capsys) -> None:
    lines = tmp_path / "app.log"
    lines.write_text('first line\n\n{"level": "error", "msg": "boom"}\n')
    group = "/aws/containerinsights/prod/application/payments/payments-api"
    assert cli.main(["encode", str(lines), "--log-group", group, "--start-ms", "1795391999000"]) == 0
    event = json.loads(capsys.readouterr().out)
    payload = decode.decode_event(event, MAX)
    assert (payload.log_group, payload.log_stream, payload.message_type) == (group, "local", "DATA_MESSAGE")
    assert [e["message"] for e in payload.log_events] == ["first line", '{"level": "error", "msg": "boom"}']
    assert [e["timestamp"] for e in payload.log_events] == [1795391999000, 1795391999001]
    documents = transform.to_documents(payload, "mydata")
    assert [d.index_name for d in documents] == ["mydata-payments-payments-api-2026.11.22"] * 2
    assert len({d.id for d in documents}) == 2


def test_encode_reads_stdin_and_refuses_nothing_to_encode(monkeypatch, capsys) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("one\ntwo\n"))
    assert cli.main(["encode", "-", "--log-group", "/aws/lambda/x"]) == 0
    assert len(decode.decode_event(json.loads(capsys.readouterr().out), MAX).log_events) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("\n  \n"))
    assert cli.main(["encode", "-", "--log-group", "/aws/lambda/x"]) == 1
    assert "-: no log lines to encode" in capsys.readouterr().err


def test_encode_piped_into_invoke_dash_indexes_the_lines(standin: StandIn, tmp_path) -> None:
    """`forwarder encode ... | forwarder invoke -`, as a shell runs it, with the console scripts."""
    lines = tmp_path / "app.log"
    lines.write_text("one\ntwo\nthree\n")
    forwarder = Path(sys.executable).parent / "forwarder"
    done = subprocess.run(
        f'"{forwarder}" encode "{lines}" --log-group /aws/lambda/checkout | "{forwarder}" invoke -',
        shell=True,
        capture_output=True,
        text=True,
        env={**os.environ, **standin.env()},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (report,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert (report["file"], report["status"], report["indexed"]) == ("-", "ok", 3)
    assert standin.count() == 3


def test_encode_into_a_reader_that_stops_early_ends_quietly(tmp_path) -> None:
    lines = tmp_path / "app.log"
    lines.write_text("".join(f"line {n} {'x' * 200}\n" for n in range(20_000)))
    done = subprocess.run(
        f'"{Path(sys.executable).parent / "forwarder"}" encode "{lines}" --log-group /aws/lambda/x | head -c 10',
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout == '{"awslogs"'
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert "CloudWatch sends at most 10,000 events or 1 MiB per batch" in done.stderr


def test_encode_refuses_an_empty_log_group(tmp_path, capsys) -> None:
    lines = tmp_path / "app.log"
    lines.write_text("one\n")
    assert cli.main(["encode", str(lines), "--log-group", " "]) == 1
    assert "--log-group is empty: give the log group's name" in capsys.readouterr().err


def test_a_directory_without_events_is_an_error(tmp_path, capfd) -> None:
    assert cli.main(["invoke", str(tmp_path), "--dry-run"]) == 1
    assert f"{tmp_path}: no *.json event files in this directory" in capfd.readouterr().err


def test_ctrl_c_during_the_retries_ends_in_one_line(silent_endpoint: str) -> None:
    """An endpoint that never answers keeps `invoke` retrying; SIGINT ends it at once, exit 130, no traceback."""
    env = {**os.environ, "OPENSEARCH_ENDPOINT": silent_endpoint, "AWS_REGION": "us-east-1"}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", POWERTOOLS_LOG_LEVEL="ERROR")
    process = subprocess.Popen(
        [Path(sys.executable).parent / "forwarder", "invoke", str(EVENTS / "lambda.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(3)  # imported, and waiting on the first request
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=10)
    assert (process.returncode, out) == (130, "")
    assert err.strip().splitlines()[-1] == "forwarder: interrupted" and "Traceback" not in err, err


EVERY_SETTING_WRONG = [
    ("OPENSEARCH_ENDPOINT", "ftp://search.example.com"),
    ("OPENSEARCH_SERVICE", "elasticsearch"),
    ("INDEX_PREFIX", "My Logs"),
    ("MAX_PAYLOAD_BYTES", "64MB"),
    ("OPENSEARCH_CONNECT_TIMEOUT", "0"),
    ("OPENSEARCH_READ_TIMEOUT", "soon"),
    ("BULK_GZIP", "maybe"),
    ("BULK_MAX_BYTES", "-5"),
    ("BULK_MAX_DOCS", "1.5"),
    ("RETRY_BASE_DELAY_SECONDS", "nan"),
    ("RETRY_MAX_DELAY_SECONDS", "0"),
    ("RETRY_MAX_SECONDS", "inf"),
    ("RETRY_SAFETY_MARGIN_SECONDS", "-1"),
    ("DEAD_LETTER_BUCKET", "s3://my-bucket"),
    ("OPENSEARCH_SECRET_ARN", "my-secret"),
    ("LOG_FAILED_DOCUMENTS", "sometimes"),
    ("TRACING", "2"),
    ("REDACT_EMAILS", "y"),
    ("REDACT_IPS", "enabled"),
    ("REDACT_RULES", '{"pattern": "x"}'),
    ("INCLUDE_PATTERN", "[unclosed"),
    ("EXCLUDE_PATTERN", "(?P<"),
    ("INDEX_PATTERN", "{prefix}-{namespace}-{date}"),
    ("INDEX_DATE_FORMAT", "hourly"),
    ("PARSE_JSON_FIELDS", "log,kubernetes.labels"),
]


@pytest.mark.parametrize(("variable", "value"), EVERY_SETTING_WRONG)
@pytest.mark.parametrize(
    "command",
    [
        ["invoke", str(EVENTS / "lambda.json"), str(EVENTS)],
        ["invoke", str(EVENTS), "--dry-run"],
        ["replay", "s3://b/p/"],
    ],
)
def test_every_wrong_setting_is_one_line_naming_the_variable_for_each_command(
    forwarder_env: StandIn, monkeypatch, capfd, variable, value, command
) -> None:
    monkeypatch.setenv(variable, value)
    assert cli.main(command) == 1
    captured = capfd.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(f"forwarder: ConfigError: {variable}"), line
    assert forwarder_env.count() == 0


def test_no_region_anywhere_is_one_line_naming_aws_region(monkeypatch, capfd) -> None:
    monkeypatch.setenv("OPENSEARCH_ENDPOINT", "https://search.example.com")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    handler.reset_runtime()
    assert cli.main(["invoke", str(EVENTS / "lambda.json")]) == 1
    (line,) = capfd.readouterr().err.splitlines()
    assert line.startswith("forwarder: ConfigError: AWS_REGION is not set")
    handler.reset_runtime()


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["invoke"], "the following arguments are required: events"),
        (["invoke", "x.json", "--json", "--quiet"], "argument --quiet/-q: not allowed with argument --json"),
        (["replay"], "the following arguments are required: source"),
        (["replay", "s3:/bucket"], "is not a replay source"),
        (["encode", "x.log"], "the following arguments are required: --log-group"),
        (["backfill", "/aws/lambda/x"], "the following arguments are required: --start"),
        (["backfill", "--start", "-7d"], "the following arguments are required: LOG_GROUP"),
        (["bench", "x.json", "--iterations", "many"], "argument --iterations: invalid int value"),
        (["backup"], "argument command: invalid choice: 'backup'"),
    ],
)
def test_each_command_misused_is_a_short_error_and_a_non_zero_exit(args, complaint, capfd) -> None:
    try:
        status = cli.main(args)
    except SystemExit as exit_:  # argparse's own refusals
        status = exit_.code
    err = capfd.readouterr().err
    assert status not in (0, None) and "Traceback" not in err
    assert complaint in err.splitlines()[-1], err


def test_into_a_pipe_a_failed_invoke_prints_its_json_report_and_one_error_line(monkeypatch, capfd) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    for name, value in {
        "OPENSEARCH_ENDPOINT": f"http://127.0.0.1:{port}",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "RETRY_MAX_SECONDS": "0.5",
    }.items():
        monkeypatch.setenv(name, value)
    handler.reset_runtime()
    assert cli.main(["invoke", str(EVENTS / "lambda.json")]) == 1
    captured = capfd.readouterr()
    report = json.loads(captured.out)
    assert (report["status"], report["failed"]) == ("failed", 4)
    *rounds, last = captured.err.splitlines()
    assert rounds[0].startswith(f"forwarder: cannot connect to http://127.0.0.1:{port}: [Errno 111] Connection refused")
    assert last.startswith(f"forwarder: {EVENTS / 'lambda.json'}: NotDeliveredError: 4 of 4 documents are neither")
    assert "Lambda" not in last, "a local run has no Lambda to retry it"
    handler.reset_runtime()
