"""The viewer in headless Chromium: click datasets -> version -> row -> lineage -> rejects -> diff, and
check what each page shows against the same data read with DuckDB (`synthloom query`'s catalog)."""

from __future__ import annotations

import httpx

from flows.catalog import query
from schemas.rows import content_id
from tests.flows.viewer.store import CODE_ROW, EDITED, HTML_ROW, chunk_ids


def sql(root, statement: str) -> list[tuple]:
    return query(root, statement).fetchall()


def column(page, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


def test_datasets_then_version_then_row_then_lineage(page, shot, served, store_root):
    page.goto(served + "/")
    expected = sql(store_root, "SELECT name, max(version), arg_max(rows, version) FROM versions GROUP BY 1 ORDER BY 1")
    assert column(page, "#datasets a.dataset") == [name for name, _, _ in expected]
    assert column(page, "#datasets tbody td:nth-child(4)") == [str(rows) for _, _, rows in expected]
    shot("1-datasets")

    page.click("#datasets a.dataset:text-is('docs')")
    assert column(page, "#versions a.version") == ["v2", "v1"]
    shot("2-dataset")

    page.click("#versions a.version:text-is('v1')")
    (total,) = sql(store_root, "SELECT count(*) FROM docs_all WHERE version = 1")[0]
    assert page.inner_text("#total") == str(total) == "60"
    first_ids = [r[0] for r in sql(store_root, "SELECT id FROM docs_all WHERE version = 1 ORDER BY id LIMIT 50")]
    assert [link.get_attribute("href").rsplit("/", 1)[1] for link in page.locator("a.row-link").all()] == first_ids
    shot("3-version")

    page.click("#sort-judge")  # highest judge score first
    best = sql(store_root, "SELECT id FROM docs_all WHERE version = 1 ORDER BY judge_score DESC, id LIMIT 1")[0][0]
    assert page.locator("a.row-link").first.get_attribute("href").endswith(best)

    page.fill("#search", "reverse LIST")
    page.click("#search-button")
    assert page.inner_text("#total") == "1"
    page.click("a.row-link")
    assert page.inner_text("#row-id") == content_id(CODE_ROW)
    assert page.locator("#conversation .turn").count() == 4
    assert page.inner_text("#conversation pre code").strip() == "items[::-1]"
    row = query(store_root, f"SELECT * FROM docs_all WHERE version = 1 AND id = '{content_id(CODE_ROW)}'")
    assert column(page, "#columns th") == row.columns
    shot("4-row")

    chunk, _ = chunk_ids(58 % 4)  # the code row is the 59th text: its first parent is chunk 58 % 4
    page.click(f"a.parent-id:has-text('{chunk}')")
    assert page.inner_text("#row-id") == chunk  # the one docs_corpus row with that id: straight to it
    assert "docs_corpus/v/1" in page.url
    shot("5-lineage")


def test_rejects_by_stage_and_reason_with_raw_text(page, shot, served, store_root):
    page.goto(served + "/d/docs/v/1")
    page.click("nav.crumbs a:has-text('rejects')")
    counts = sql(store_root, "SELECT stage, reason, count(*) FROM docs_rejects_all WHERE version = 1 GROUP BY ALL")
    shown = [tuple(r.split("\t")) for r in column(page, "#reject-counts tbody tr")]
    assert sorted(shown) == sorted((s, r, str(n)) for s, r, n in counts)
    raws = column(page, ".reject-group pre.raw")
    assert "raw text 0 dropped by magpie for instruction_truncated" in raws
    shot("rejects")

    page.click("a.reason:text-is('instruction_truncated')")
    assert page.locator(".example pre.raw").count() == 4


def test_diff_of_two_versions(page, shot, served, store_root):
    page.goto(served + "/d/docs/v/2")
    page.select_option("select[name=a]", "docs@v1")
    page.click("#diff-button")
    only = (
        "SELECT count(*) FROM (SELECT id FROM docs_all WHERE version = {} "
        "EXCEPT SELECT id FROM docs_all WHERE version = {})"
    )
    assert page.inner_text("#added-count") == str(sql(store_root, only.format(2, 1))[0][0]) == "5"
    assert page.inner_text("#removed-count") == str(sql(store_root, only.format(1, 2))[0][0]) == "10"
    reasons = column(page, "#diff-reasons tbody tr")
    assert "dedup\tnear_duplicate\t0\t3" in reasons and "magpie\tinstruction_truncated\t4\t1" in reasons
    # near duplicates: v2's edits of v1 rows 3 and 7 (new ids) are shown as changed, not as added + removed
    assert page.inner_text("#near-count") == "2" and page.inner_text("#pure-added-count") == "3"
    rows = page.locator("#diff-near tbody tr").all()
    near = {
        tuple(r.locator(f"a.{k}").get_attribute("href").rsplit("/", 1)[1] for k in ("removed", "added")) for r in rows
    }
    assert near == {(content_id(old), content_id(new)) for new, old in EDITED.items()}
    assert all(float(s) >= 0.8 for s in column(page, "#diff-near td.similarity"))
    assert page.locator("#diff-added a.row-link").count() == 3 and page.locator("#diff-removed a.row-link").count() == 8
    shot("diff")
    page.click("#diff-near a.added >> nth=0")
    assert page.inner_text("#row-id") in {content_id(new) for new in EDITED}


def test_filters_pages_and_the_versions_view(page, served, store_root):
    page.goto(served + "/d/docs/v/1")
    page.select_option("#filter-category", "coding")
    page.select_option("#filter-source", "magpie")
    page.click("#search-button")
    where = "version = 1 AND judge_category = 'coding' AND source_kind = 'magpie'"
    assert page.inner_text("#total") == str(sql(store_root, f"SELECT count(*) FROM docs_all WHERE {where}")[0][0])

    page.goto(served + "/d/docs/v/1")
    page.click("#next")
    assert page.locator("a.row-link").count() == 10  # 60 rows, 50 a page
    page.goto(served + "/views/versions")
    assert page.locator("#view-table tbody tr").count() == sql(store_root, "SELECT count(*) FROM versions")[0][0]


def test_card_plots_load_and_text_is_not_html(page, shot, served):
    page.goto(served + "/d/docs/v/1/card")
    images = page.locator("#card img")
    assert images.count() >= 2
    assert all(img.evaluate("i => i.complete && i.naturalWidth > 0") for img in images.all())
    shot("card")
    page.goto(served + f"/d/docs/v/1/rows/{content_id(HTML_ROW)}")
    assert page.locator("main script").count() == 0
    assert "<script>alert(1)</script>" in page.inner_text("#conversation")


def test_parent_version_and_parent_row_links(page, served):
    page.goto(served + f"/d/docs_scored/v/1/rows/{content_id('Question number 200 about tides and honeybees?')}")
    page.click("a.parent-id")  # its parent row is in docs@v1, its parent version
    assert page.url.endswith(f"/d/docs/v/1/rows/{content_id('Question number 0 about tides and honeybees?')}")
    page.goto(served + "/d/docs/v/2")
    page.click("a.parent-version:text-is('docs_corpus@v1')")
    assert page.url.endswith("/d/docs_corpus/v/1")


def test_a_foreign_host_header_is_refused(served):
    port = served.rsplit(":", 1)[1]
    for host in (f"evil.example:{port}", "127.0.0.1", f"127.0.0.1:{int(port) + 1}", f"localhost.evil:{port}"):
        answer = httpx.get(served + "/", headers={"Host": host})
        assert answer.status_code == 400 and "refused" in answer.text, host
    assert httpx.get(served + "/").status_code == 200
    assert httpx.get(served + "/", headers={"Host": f"localhost:{port}"}).status_code == 200
    assert httpx.post(served + "/").status_code == 405  # read-only: GET and HEAD only
