"""docs/costs.md's tables are bench/costs.py's output, and the script's arithmetic holds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

import costs  # noqa: E402

DOC = ROOT / "docs" / "costs.md"


def test_the_docs_tables_equal_the_scripts_output():
    in_doc, rendered = costs.doc_blocks(DOC.read_text()), costs.render()
    assert sorted(in_doc) == sorted(rendered), "a table of bench/costs.py is missing from docs/costs.md, or the reverse"
    for name, body in rendered.items():
        assert in_doc[name] == body, (
            f"docs/costs.md table {name!r} differs from bench/costs.py: run "
            "`.venv/bin/python bench/costs.py --write docs/costs.md`"
        )


def test_write_rewrites_only_the_marked_tables(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- costs.py: idle -->\nstale\n<!-- /costs.py -->\noutro\n")
    assert costs.main(["--write", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("intro\n") and text.endswith("\noutro\n") and "stale" not in text
    assert costs.doc_blocks(text) == {"idle": costs.render()["idle"]}


def test_a_table_the_script_does_not_make_is_refused():
    with pytest.raises(KeyError, match="nope"):
        costs.rewrite("<!-- costs.py: nope -->\nx\n<!-- /costs.py -->", costs.render())


def test_every_measured_input_is_read_from_the_file_it_names():
    for item in costs.measured():
        name = item.source.split(":")[0]
        assert (costs.RESULTS / name).is_file(), item
    model = costs.Model()
    assert model["kafka_bytes_per_event"] == costs._field("matcher.json", "throughput.kafka_bytes_per_event.version_2")


def test_a_missing_field_names_itself():
    with pytest.raises(KeyError, match="no field 'throughput.nope'"):
        costs._field("matcher.json", "throughput.nope")


def test_idle_is_the_fixed_parts_and_traffic_only_adds():
    model = costs.Model()
    idle = model.parts(None)
    assert idle["Lambda matcher"] == 0 and idle["DynamoDB"] == 0
    assert idle["Kafka: MSK Serverless"] == pytest.approx(730 * (0.75 + 3 * 0.0015))
    assert idle["matcher pollers (1 EPU)"] == pytest.approx(730 * 0.185)
    small = model.parts(costs.SIZES[0])
    assert all(small[part] >= idle[part] for part in idle)


def test_a_sizes_traffic_matches_the_per_million_figures():
    """The size model and the per-unit tables are two computations of the same inputs."""
    model = costs.Model()
    size = costs.Size("t", "t", 1, 12, None, 0, 0, 0, 0, "")
    base = model.parts(costs.Size("t0", "t0", 1, 1e12, None, 0, 0, 0, 0, ""))
    parts = model.parts(size)
    events = model.volumes(size)["events"]
    kafka = parts["Kafka: MSK Serverless"] - base["Kafka: MSK Serverless"]
    per_million = model.per_million_events()
    assert kafka == pytest.approx(events / 1e6 * (per_million["Kafka: MSK Serverless data in + out"]
                                                  + per_million["Kafka: MSK Serverless storage (retention)"]), rel=0.01)
    assert parts["Lambda matcher"] == pytest.approx(events / 1e6 * per_million["Lambda matcher (GB-s + requests)"])


def test_the_scripts_copies_of_the_stacks_settings_agree_with_the_stack():
    from infra.blockhook_infra import functions, options, streaming, topics

    model = costs.Model()
    assert costs.TOPIC_PARTITIONS == topics.TOPIC_PARTITIONS
    assert costs.PROVISIONED_BROKERS == streaming.PROVISIONED_AZS
    assert costs.PROVISIONED_STORAGE_GB == options.DEFAULT_KAFKA_BROKER_STORAGE_GB
    ingest = functions.SPECS["ingest"]
    assert model["ingest_seconds_per_minute"] == ingest.timeout.to_seconds() - functions.INGEST_STOP_MARGIN_SECONDS
    assert ingest.memory_mb == functions.SPECS["matcher"].memory_mb == 1024  # the model bills both at 1 GB
    assert functions.SPECS["deliver"].memory_mb == functions.SPECS["api"].memory_mb == 512  # and these at 0.5 GB
    assert "log.retention.hours=168" in streaming.PROVISIONED_SERVER_PROPERTIES
    assert model["kafka_retention_days"] == 7
