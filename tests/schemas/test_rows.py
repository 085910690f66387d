import pyarrow as pa

from schemas.rows import REJECT_SCHEMA, SFT_SCHEMA, Lineage, content_id


def test_every_row_and_reject_carries_lineage():
    for field in Lineage.model_fields:
        assert field in SFT_SCHEMA.names
        assert field in REJECT_SCHEMA.names


def test_schema_types():
    assert SFT_SCHEMA.names[0] == "id"
    assert SFT_SCHEMA.field("messages").type == pa.list_(
        pa.struct([pa.field("role", pa.string(), False), pa.field("content", pa.string(), False)])
    )
    assert SFT_SCHEMA.field("parent_ids").type == pa.list_(pa.string()) and not SFT_SCHEMA.field("parent_ids").nullable
    assert SFT_SCHEMA.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert REJECT_SCHEMA.field("reason").type == pa.string()


def test_content_id_is_stable_and_order_sensitive():
    assert content_id([{"a": 1}]) == content_id([{"a": 1}])
    assert content_id("a", "b") != content_id("b", "a")
    assert len(content_id("x")) == 32
