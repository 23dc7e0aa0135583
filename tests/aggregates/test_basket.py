"""The market basket against mlxtend's association_rules, and planted bundles on top."""

from __future__ import annotations

import pandas as pd
from mlxtend.frequent_patterns import apriori, association_rules
from mlxtend.preprocessing import TransactionEncoder

from klaviyo_analytics.aggregates import run_aggregates
from klaviyo_analytics.warehouse import Warehouse
from tests.aggregates import reference
from tests.aggregates.builder import BUNDLES, StoreData
from tests.aggregates.conftest import read_table


def test_support_confidence_lift_match_mlxtend(loaded: Warehouse, store_data: StoreData) -> None:
    min_co = 5
    run_aggregates(
        loaded,
        store_data.store,
        ["relationships"],
        store_data.as_of,
        store_data.tz,
        min_co_purchases=min_co,
    )
    got = read_table(loaded, "product_relationships_optimized", store_data.store)
    got = got.set_index(["product_a", "product_b"])

    baskets = reference.baskets(store_data)
    encoder = TransactionEncoder()
    onehot = pd.DataFrame(
        encoder.fit([sorted(b) for b in baskets]).transform([sorted(b) for b in baskets]),
        columns=encoder.columns_,
    )
    frequent = apriori(
        onehot, min_support=(min_co - 0.5) / len(baskets), use_colnames=True, max_len=2
    )
    rules = association_rules(frequent, metric="support", min_threshold=0.0)
    rules = rules[(rules["antecedents"].map(len) == 1) & (rules["consequents"].map(len) == 1)]
    expected = {
        (next(iter(r.antecedents)), next(iter(r.consequents))): r
        for r in rules.itertuples(index=False)
    }
    assert set(got.index) == set(expected)
    for key, rule in expected.items():
        row = got.loc[key]
        assert abs(row["support"] - rule.support) < 1e-6
        assert abs(row["confidence"] - rule.confidence) < 1e-5
        assert abs(row["lift"] - rule.lift) < 1e-4 * rule.lift


def test_planted_bundles_are_the_top_lift_pairs(loaded: Warehouse, store_data: StoreData) -> None:
    run_aggregates(
        loaded,
        store_data.store,
        ["relationships"],
        store_data.as_of,
        store_data.tz,
        min_co_purchases=10,
    )
    got = read_table(loaded, "product_relationships_optimized", store_data.store)
    top = got.sort_values("lift", ascending=False).head(2 * len(BUNDLES))
    planted = {p for a, b in BUNDLES for p in ((a, b), (b, a))}
    assert set(zip(top["product_a"], top["product_b"], strict=True)) == planted
    assert set(top["relationship_type"]) == {"frequently_bought"}
