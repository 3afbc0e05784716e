"""Parses a Prometheus exposition with the official Python client's parser
and prints its samples as JSON lines, for tests/metrics.rs.

    metrics_parse.py text FILE         # Prometheus text format 0.0.4
    metrics_parse.py openmetrics FILE  # OpenMetrics 1.0 (strict: # EOF, types)

Each line: {"family", "type", "name", "labels", "value"}. A text the parser
refuses makes it fail (exit 1) with the parser's error.
"""
import json
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families


def main():
    fmt, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    parse = {"text": text_string_to_metric_families,
             "openmetrics": openmetrics_families}[fmt]
    for family in parse(text):
        for s in family.samples:
            print(json.dumps({"family": family.name, "type": family.type,
                              "name": s.name, "labels": s.labels,
                              "value": s.value}))


if __name__ == "__main__":
    main()
