#!/usr/bin/env python3
"""Validates a conformance report directory against the spec's JSON Schemas (OMPP-CONF-012,
OMPP-CONF-015): report.json, every evidence/transcripts/*.json and evidence/hashes.json; checks
that junit.xml is well-formed XML with one test case per case and that every hash matches.

Usage: validate-evidence.py REPORT_DIR SCHEMA_DIR
"""
import hashlib
import json
import pathlib
import sys
import xml.etree.ElementTree as ET

import jsonschema


def validate(path, schema_path):
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(json.loads(path.read_text()), schema)


def main():
    report_dir, schema_dir = map(pathlib.Path, sys.argv[1:3])
    validate(report_dir / "report.json", schema_dir / "conformance-report.schema.json")
    transcripts = sorted((report_dir / "evidence" / "transcripts").glob("*.json"))
    for transcript in transcripts:
        validate(transcript, schema_dir / "conformance-transcript.schema.json")
    index_path = report_dir / "evidence" / "hashes.json"
    validate(index_path, schema_dir / "conformance-evidence.schema.json")
    report = json.loads((report_dir / "report.json").read_text())
    if len(transcripts) != len(report["cases"]):
        sys.exit(f"{len(transcripts)} transcripts for {len(report['cases'])} cases")
    junit = ET.parse(report_dir / "junit.xml").getroot()
    if int(junit.get("tests")) != len(report["cases"]):
        sys.exit("junit.xml: test count differs from the report")
    index = json.loads(index_path.read_text())
    for entry in index["files"]:
        digest = hashlib.sha256((report_dir / entry["path"]).read_bytes()).hexdigest()
        if digest != entry["sha256"]:
            sys.exit(f"{entry['path']}: hash differs from evidence/hashes.json")
    print(
        f"evidence valid: report, {len(transcripts)} transcripts, hashes of "
        f"{len(index['files'])} files, junit.xml with {junit.get('tests')} cases"
    )


if __name__ == "__main__":
    main()
