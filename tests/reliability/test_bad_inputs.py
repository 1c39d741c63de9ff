"""Bad input: every broken image, hostile URL and malformed catalog ends once in `reject`, or
fails its catalog with a clear message; the run itself completes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from snapprice import run
from snapprice.errors import CatalogError
from snapprice.sandbox import SandboxConfig, start_in_thread
from tests.conftest import DATA_TABLES
from tests.reliability.corpus import build_corpus, hostile_server
from tests.reliability.kit import PlatformCfg, one, q, run_pipeline, settings_for, write_config

pytestmark = pytest.mark.integration


def _rejects(engine, run_id):
    return q(engine, "SELECT source, reason, coalesce(detail, '') FROM reject WHERE run_id = :r",
             r=run_id)


def test_bad_input_corpus_lands_once_in_reject(clean_db, database_url, tmp_path):
    with hostile_server() as url, start_in_thread(SandboxConfig(seed=5, n_products=20, qps=200)) as sb:
        corpus = build_corpus(tmp_path, url)
        config = write_config(tmp_path / "snapprice.toml", database_url=database_url,
                              catalog=corpus.csv, base_url=sb.base_url, fetch_timeout=1.0,
                              platforms=[PlatformCfg("taobao", qps=50)])
        settings = settings_for(config)
        checked = 0
        for catalog, expected, good in ((corpus.csv, corpus.expected, corpus.good_rows),
                                        (corpus.folder, corpus.expected_folder, None)):
            result = run_pipeline(clean_db, settings, catalog)
            run_id = result["run_id"]
            assert result["status"] == "succeeded", result
            rejects = _rejects(clean_db, run_id)
            assert len(rejects) == len({s for s, _, _ in rejects}), "a bad item was rejected twice"
            assert {s: r for s, r, _ in rejects} == expected
            assert all(detail for _, _, detail in rejects), "a reject without its detail"
            if good is not None:
                assert result["n_images"] == good
            assert one(clean_db, "SELECT count(*) FROM search_task WHERE run_id = :r"
                                 " AND status <> 'done'", r=run_id) == 0
            # A resumed run keeps its plan: no reject is recorded twice.
            again = run_pipeline(clean_db, settings, catalog, resume_run=run_id)
            assert again["n_rejects"] == len(expected)
            checked += len(expected)
        # The 16-bit PNG is accepted and hashed, in both catalogs.
        assert one(clean_db, "SELECT count(*) FROM catalog_item WHERE image_ref LIKE '%deep16.png'"
                             " AND content_digest IS NOT NULL") == 2

        failures = []
        for name, (path, message) in corpus.malformed.items():
            run_id = run.start_run(clean_db, settings, kind="manual", catalog=str(path))
            with pytest.raises(CatalogError) as err:
                run.ingest(clean_db, settings, run_id, path)
            assert message in str(err.value), (name, str(err.value))
            assert str(path.name) in str(err.value)
            closed = run.close_run(clean_db, run_id, error=f"CatalogError: {err.value}")
            assert closed["status"] == "failed" and closed["n_groups"] == 0
            failures.append(f"{name}: {err.value}")
    statuses = dict(q(clean_db, "SELECT status, count(*) FROM run GROUP BY 1"))
    assert statuses == {"succeeded": 2, "failed": len(corpus.malformed)}
    print(f"\nbad input: {checked} bad items (images, URLs, rows) each once in `reject` with its "
          f"reason across a CSV and a folder catalog; {len(failures)} malformed catalogs failed "
          "clearly:\n  " + "\n  ".join(failures))


def test_truncate_tables_helper_is_complete(clean_db):
    """The reliability tests empty DATA_TABLES between trials: every data table is in it."""
    with clean_db.connect() as conn:
        tables = set(conn.execute(sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            " AND tablename NOT LIKE 'price_snapshot_%' AND tablename NOT IN"
            " ('schema_migration', 'snapprice_rate_limit')")).scalars())
    assert set(DATA_TABLES) <= tables
