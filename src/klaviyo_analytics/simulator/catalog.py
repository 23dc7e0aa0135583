"""The synthetic catalogue and customers of one store.

Products (with variants, SKUs, brands, categories, collections and a Zipf-skewed popularity), the
planted bundles and substitutes, and customer attributes derived from a hash of the customer
number, so any customer can be rebuilt on its own without keeping a table of them.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from klaviyo_analytics.simulator.ids import mix, ulid_like

BRANDS = [
    "Northwind Outfitters",
    "Aurora Goods",
    "Maple & Co",
    "Tidewater",
    "Copper Fern",
    "Blue Harbor",
    "Juniper Lane",
    "Stonebridge",
    "Wildflower Studio",
    "Fieldhouse",
    "Lumen Supply",
    "Oak & Thistle",
]
CATEGORIES: dict[str, list[str]] = {
    "Shirts": ["Linen Shirt", "Oxford Shirt", "Flannel Shirt", "Henley", "Polo"],
    "Dresses": ["Wrap Dress", "Slip Dress", "Sundress", "Shirt Dress"],
    "Pants": ["Chinos", "Wide-Leg Trousers", "Joggers", "Cargo Pants", "Jeans"],
    "Shoes": ["Sneakers", "Loafers", "Chelsea Boots", "Sandals", "Trail Runners"],
    "Outerwear": ["Rain Jacket", "Puffer Vest", "Wool Coat", "Denim Jacket"],
    "Bags": ["Tote Bag", "Backpack", "Crossbody Bag", "Weekender"],
    "Accessories": ["Beanie", "Scarf", "Leather Belt", "Sunglasses", "Socks 3-Pack"],
    "Jewelry": ["Hoop Earrings", "Pendant Necklace", "Signet Ring", "Bracelet"],
    "Home": ["Candle", "Throw Blanket", "Ceramic Mug", "Linen Napkins"],
    "Beauty": ["Face Serum", "Hand Cream", "Lip Balm", "Body Wash"],
}
ADJECTIVES = [
    "Classic",
    "Organic Cotton",
    "Everyday",
    "Vintage",
    "Recycled",
    "Merino",
    "Heritage",
    "Lightweight",
    "Cozy",
    "Essential",
    "Relaxed",
    "Tailored",
]
COLLECTIONS = [
    "New Arrivals",
    "Bestsellers",
    "Summer",
    "Winter",
    "Essentials",
    "Gifts",
    "Sale",
    "Outdoor",
    "Weekend",
    "Workwear",
]
SIZES = ["XS", "S", "M", "L", "XL"]
COLOURS = ["Black", "Navy", "Sand", "Olive", "White", "Rust"]
FIRST_NAMES = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Mia", "Lucas",
    "Amelia", "Mateo", "Harper", "Levi", "Evelyn", "Ethan", "Aria", "Leo", "Chloe", "Omar",
    "Priya", "Kenji", "Fatima", "Diego", "Ingrid", "Yuki", "Zara", "Tomas", "Nadia", "Samuel",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Johnson", "Garcia", "Brown", "Martinez", "Lee", "Walker", "Nguyen", "Patel",
    "Kim", "Rossi", "Muller", "Cohen", "Silva", "Novak", "Okafor", "Larsen", "Tanaka", "Khan",
    "Dubois", "Murphy", "Hughes", "Schmidt", "Reyes", "Andersson",
]  # fmt: skip
EMAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com"]
#: (city, province, province_code, country, country_code, zip prefix, weight)
LOCATIONS: list[tuple[str, str, str, str, str, str, float]] = [
    ("New York", "New York", "NY", "United States", "US", "100", 9),
    ("Brooklyn", "New York", "NY", "United States", "US", "112", 5),
    ("Los Angeles", "California", "CA", "United States", "US", "900", 8),
    ("San Francisco", "California", "CA", "United States", "US", "941", 4),
    ("Chicago", "Illinois", "IL", "United States", "US", "606", 5),
    ("Houston", "Texas", "TX", "United States", "US", "770", 4),
    ("Austin", "Texas", "TX", "United States", "US", "787", 3),
    ("Seattle", "Washington", "WA", "United States", "US", "981", 3),
    ("Denver", "Colorado", "CO", "United States", "US", "802", 2),
    ("Miami", "Florida", "FL", "United States", "US", "331", 3),
    ("Atlanta", "Georgia", "GA", "United States", "US", "303", 3),
    ("Boston", "Massachusetts", "MA", "United States", "US", "021", 3),
    ("Portland", "Oregon", "OR", "United States", "US", "972", 2),
    ("Phoenix", "Arizona", "AZ", "United States", "US", "850", 2),
    ("Toronto", "Ontario", "ON", "Canada", "CA", "M5V", 3),
    ("Vancouver", "British Columbia", "BC", "Canada", "CA", "V6B", 2),
    ("London", "England", "ENG", "United Kingdom", "GB", "EC1", 3),
    ("Manchester", "England", "ENG", "United Kingdom", "GB", "M1 ", 1),
    ("Sydney", "New South Wales", "NSW", "Australia", "AU", "200", 2),
    ("Berlin", "Berlin", "BE", "Germany", "DE", "101", 1),
]
CUSTOMER_TAGS = ["newsletter", "vip", "wholesale", "returning", "influencer", "loyalty"]
PRODUCT_BASE_ID = 7_000_000_000_000
VARIANT_BASE_ID = 42_000_000_000_000
CUSTOMER_BASE_ID = 6_000_000_000_000


@dataclass(frozen=True)
class Catalog:
    """Products and variants of one store, plus the arrays the order generator samples from.

    Attributes:
        products: one dict per product, shaped like the ``product`` object of a line item.
        variants: one dict per variant (``id``, ``title``, ``sku``, ``product_index``).
        variant_price: unit price in cents per variant.
        product_first_variant: index of each product's first variant.
        product_variant_count: number of variants of each product.
        product_cum_weight: cumulative, normalised Zipf popularity of the products.
        bundle_partner: for each product the product planted as its bundle partner, or -1.
        bundles: the planted bundles as (anchor, partner) product indices.
        substitutes: pairs of product indices that are (almost) never bought together.
    """

    products: list[dict[str, Any]]
    variants: list[dict[str, Any]]
    variant_price: npt.NDArray[np.int64]
    product_first_variant: npt.NDArray[np.int64]
    product_variant_count: npt.NDArray[np.int64]
    product_cum_weight: npt.NDArray[np.float64]
    bundle_partner: npt.NDArray[np.int64]
    bundles: list[tuple[int, int]]
    substitutes: list[tuple[int, int]]

    @property
    def product_ids(self) -> list[int]:
        """Shopify product ids, by product index."""
        return [int(p["id"]) for p in self.products]


def product_count_for(orders: int) -> int:
    """How many products a store with ``orders`` orders has (40 to 1,500)."""
    return int(min(1500, max(40, orders // 150)))


def build_catalog(seed: int, account: int, orders: int) -> Catalog:
    """Generate the catalogue of one store deterministically.

    Args:
        seed: store seed.
        account: account index.
        orders: store size, which sets the number of products.

    Returns:
        The catalogue.
    """
    rnd = random.Random(mix(seed, account, "catalog"))
    n_products = product_count_for(orders)
    base = PRODUCT_BASE_ID + (mix(seed, account, "products") % 900_000) * 10_000
    vbase = VARIANT_BASE_ID + (mix(seed, account, "variants") % 900_000) * 100_000
    products: list[dict[str, Any]] = []
    variants: list[dict[str, Any]] = []
    prices: list[int] = []
    first: list[int] = []
    counts: list[int] = []
    categories = list(CATEGORIES)
    for i in range(n_products):
        ptype = categories[i % len(categories)] if i < len(categories) else rnd.choice(categories)
        noun = rnd.choice(CATEGORIES[ptype])
        title = f"{rnd.choice(ADJECTIVES)} {noun}"
        if i >= 60:
            title = f"{title} {i}"
        vendor = BRANDS[int(len(BRANDS) * rnd.random() ** 1.6)]
        n_coll = 1 + (rnd.random() < 0.5) + (rnd.random() < 0.2)
        collections = sorted(rnd.sample(COLLECTIONS, n_coll))
        tags = sorted(
            {ptype.lower(), vendor.split()[0].lower(), rnd.choice(["new", "core", "eco"])}
        )
        price = max(800, min(40_000, int(rnd.lognormvariate(8.2, 0.65))))
        price = price // 100 * 100 + (99 if rnd.random() < 0.7 else 0)
        product_id = base + i
        handle = title.lower().replace("&", "and").replace(" ", "-")
        products.append(
            {
                "id": product_id,
                "title": title,
                "handle": handle,
                "vendor": vendor,
                "product_type": ptype,
                "tags": tags,
                "collections": collections,
            }
        )
        if ptype in ("Home", "Beauty", "Jewelry"):
            options = ["Default Title"]
        elif ptype in ("Bags", "Accessories"):
            options = rnd.sample(COLOURS, rnd.randint(1, 3))
        else:
            options = rnd.sample(SIZES, rnd.randint(2, 4))
        first.append(len(variants))
        counts.append(len(options))
        for j, option in enumerate(options):
            sku = f"{vendor[:3].upper()}-{i:04d}-{option[:2].upper().strip()}{j}"
            variants.append(
                {
                    "id": vbase + i * 10 + j,
                    "title": option,
                    "sku": sku,
                    "product_index": i,
                }
            )
            prices.append(price + (500 if option == "XL" else 0))
    # Zipf-like popularity over a shuffled order, so popularity is not tied to the category cycle.
    ranks = np.arange(1, n_products + 1, dtype=np.float64)
    weights = ranks**-1.05
    order = list(range(n_products))
    rnd.shuffle(order)
    popularity = np.empty(n_products, dtype=np.float64)
    popularity[np.array(order)] = weights
    cum = np.cumsum(popularity)
    cum /= cum[-1]
    # Planted bundles: a popular anchor and a mid-popularity partner bought with it far more
    # often than chance. Substitutes: two similar products almost never in the same basket.
    by_pop = [int(x) for x in np.argsort(-popularity)]
    n_bundles = 5 if n_products >= 60 else 3
    bundles: list[tuple[int, int]] = []
    used: set[int] = set()
    for k in range(n_bundles):
        anchor = by_pop[3 + k * 2]
        partner = by_pop[n_products // 4 + k * 3]
        bundles.append((anchor, partner))
        used.update((anchor, partner))
    partner_arr = np.full(n_products, -1, dtype=np.int64)
    for anchor, partner in bundles:
        partner_arr[anchor] = partner
    substitutes: list[tuple[int, int]] = []
    candidates = [p for p in by_pop[14:60] if p not in used]
    for k in range(0, min(6, len(candidates) - 1), 2):
        substitutes.append((candidates[k], candidates[k + 1]))
    return Catalog(
        products=products,
        variants=variants,
        variant_price=np.array(prices, dtype=np.int64),
        product_first_variant=np.array(first, dtype=np.int64),
        product_variant_count=np.array(counts, dtype=np.int64),
        product_cum_weight=cum,
        bundle_partner=partner_arr,
        bundles=bundles,
        substitutes=substitutes,
    )


@dataclass(frozen=True)
class Customer:
    """Attributes of one customer, derived from its number alone.

    Attributes:
        number: the customer's index in the store (0 = first customer).
        shopify_id: Shopify customer id.
        profile_id: Klaviyo profile id.
        email: unique e-mail address.
        first_name: first name.
        last_name: last name.
        tags: Shopify customer tags.
        location: index into :data:`LOCATIONS`.
        zip: postal code.
    """

    number: int
    shopify_id: int
    profile_id: str
    email: str
    first_name: str
    last_name: str
    tags: tuple[str, ...]
    location: int
    zip: str


_LOCATION_CUM = np.cumsum([w for *_, w in LOCATIONS]) / sum(w for *_, w in LOCATIONS)
_LOCATION_CUM_LIST: list[float] = [float(x) for x in _LOCATION_CUM]


@lru_cache(maxsize=65536)
def customer(seed: int, account: int, number: int) -> Customer:
    """The customer with the given number in a store (cached).

    Args:
        seed: store seed.
        account: account index.
        number: customer number.

    Returns:
        The customer's attributes.
    """
    rnd = random.Random(mix(seed, account, "customer", number))
    first = rnd.choice(FIRST_NAMES)
    last = rnd.choice(LAST_NAMES)
    email = f"{first.lower()}.{last.lower()}.{number}@{rnd.choice(EMAIL_DOMAINS)}"
    tags = []
    if rnd.random() < 0.45:
        tags.append("newsletter")
    if rnd.random() < 0.06:
        tags.append("vip")
    if rnd.random() < 0.03:
        tags.append("wholesale")
    if rnd.random() < 0.05:
        tags.append("loyalty")
    location = bisect.bisect_right(_LOCATION_CUM_LIST, rnd.random())
    prefix = LOCATIONS[location][5]
    zip_code = prefix + (f"{rnd.randint(0, 99):02d}" if prefix[-1].isdigit() else " 1AB")
    return Customer(
        number=number,
        shopify_id=CUSTOMER_BASE_ID + account * 100_000_000 + number,
        profile_id=ulid_like(seed, account, "profile", number),
        email=email,
        first_name=first,
        last_name=last,
        tags=tuple(tags),
        location=location,
        zip=zip_code.strip(),
    )
