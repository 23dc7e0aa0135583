"""mlxtend apriori + association_rules on exported baskets (run as a child of the bench).

Usage: ``python bench/mlxtend_basket.py BASKETS.parquet MIN_CO`` where the Parquet file holds
the counted baskets as (order_id, product_id) rows. Prints one JSON line: the time to build the
one-hot matrix (basket lists + ``TransactionEncoder``, dense bool as apriori needs), apriori
(``max_len=2``, ``low_memory=True``: the default materialises an N x candidates x 2 array, 74 GB
at 20k baskets), association_rules, the number of rules and this process's peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import pandas as pd
from mlxtend.frequent_patterns import apriori, association_rules
from mlxtend.preprocessing import TransactionEncoder


def main() -> None:
    path, min_co = sys.argv[1], int(sys.argv[2])
    rows = pd.read_parquet(path)
    start = time.perf_counter()
    baskets = rows.groupby("order_id", sort=False)["product_id"].agg(list).tolist()
    enc = TransactionEncoder()
    onehot = pd.DataFrame(enc.fit(baskets).transform(baskets), columns=enc.columns_)
    encoded = time.perf_counter()
    n = len(baskets)
    freq = apriori(onehot, min_support=(min_co - 0.5) / n, use_colnames=True, max_len=2,
                   low_memory=True)  # fmt: skip
    mined = time.perf_counter()
    rules = association_rules(freq, num_itemsets=n, metric="support", min_threshold=0.0)
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "baskets": n,
                "encode_s": encoded - start,
                "apriori_s": mined - encoded,
                "rules_s": done - mined,
                "total_s": done - start,
                "rules": len(rules),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
