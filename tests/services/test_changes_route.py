"""The change feed over HTTP: a department's system (role registry_feed) sends a batch; only that role may."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from tests.support.services import Place, open_api


def _person(matching_db: Path) -> dict[str, object]:
    con = duckdb.connect(str(matching_db), read_only=True)
    try:
        cursor = con.execute("SELECT subject FROM profiles ORDER BY subject LIMIT 1")  # a person
        subject = cursor.fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    return {"person_id": subject}


def test_a_department_sends_a_batch_once_and_a_refused_one_changes_nothing(place: Place, tmp_path: Path) -> None:
    results = tmp_path / "matching.duckdb"
    shutil.copy(place.template.matching_db, results)  # the shared results stay as they were
    with open_api(place, matching_db=results) as api:
        feed = api.device("registry_feed")
        gate = api.device("gate", "sh-museum")
        person = _person(results)
        martyr = {"source": "sh-gaj", "seq": 1, "registry": "martyrs", "op": "insert",
                 "row": {**person, "recognised_on": "1990-01-01"}}  # fmt: skip
        body = json.dumps(martyr) + "\n"
        sent = api.client.post("/v1/registry/changes", content=body, headers=feed)
        assert sent.status_code == 200, sent.text
        answer = sent.json()
        assert (answer["applied"], answer["skipped"]) == (1, 0) and answer["affected"] >= 1
        assert answer["publication_waits"] is None, answer  # the services hold this run: published at once
        assert answer["published"]["batches"] == 1 and answer["published"]["profiles"] >= 1
        again = api.client.post("/v1/registry/changes", content=body, headers=feed).json()
        assert (again["applied"], again["skipped"]) == (0, 1) and again["published"]["batches"] == 0
        gap = api.client.post("/v1/registry/changes", content=json.dumps({**martyr, "seq": 3}), headers=feed)
        assert gap.status_code == 422 and gap.json()["error"] == "changes_refused"
        assert "sh-gaj: sequence 3 follows 1 (2 is missing)" in gap.json()["detail"]
        bad = api.client.post("/v1/registry/changes", content=b"not json\n", headers=feed)
        assert bad.status_code == 422 and "not a JSON object" in bad.json()["detail"]
        for other in (gate, api.admin):  # the feed's own role, and only it
            refused = api.client.post("/v1/registry/changes", content=body, headers=other)
            assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
        huge = api.client.post("/v1/registry/changes", content=b"x" * (8 * 1024 * 1024 + 1), headers=feed)
        assert huge.status_code == 413
    con = duckdb.connect(str(results), read_only=True)
    try:
        assert con.execute("SELECT source, last_seq FROM change_sources").fetchall() == [("sh-gaj", 1)]
    finally:
        con.close()
