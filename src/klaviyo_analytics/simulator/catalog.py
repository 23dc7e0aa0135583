"""The synthetic catalogue and customers of one store.

Products (with variants, SKUs, brands, categories, collections and a Zipf-skewed popularity), the
planted bundles and substitutes, and customer attributes derived from splitmix64 hashes of the
customer number (vectorised over blocks of customers), so any customer can be rebuilt on its own
without keeping a table of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from klaviyo_analytics.simulator.ids import mix, splitmix_array, unit_array, unsplitmix

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
#: Customer tags a customer may carry, with their probabilities (independent draws).
TAG_PROBABILITIES: list[tuple[str, float]] = [
    ("newsletter", 0.45),
    ("vip", 0.06),
    ("wholesale", 0.03),
    ("loyalty", 0.05),
]
#: The tag tuple of every tag bit mask (bit i = ``TAG_PROBABILITIES[i]``), in that order.
TAG_SETS: list[tuple[str, ...]] = [
    tuple(name for i, (name, _) in enumerate(TAG_PROBABILITIES) if mask >> i & 1)
    for mask in range(1 << len(TAG_PROBABILITIES))
]
_TAG_THRESHOLDS = [int(p * 65536) for _, p in TAG_PROBABILITIES]
#: Postal code of every (location, two-digit draw).
ZIP_CODES: list[list[str]] = [
    [(loc[5] + (f"{d:02d}" if loc[5][-1].isdigit() else " 1AB")).strip() for d in range(100)]
    for loc in LOCATIONS
]
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_BYTES = np.frombuffer(_CROCKFORD.encode(), np.uint8)
_U32 = np.uint64(0xFFFFFFFF)
_WORD_KEYS = [np.uint64(k) for k in (0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0)]
_PROFILE_HI_KEY = np.uint64(0x082EFA98EC4E6C89)


@lru_cache(maxsize=256)
def _salts(seed: int, account: int) -> tuple[np.uint64, np.uint64]:
    return np.uint64(mix(seed, account, "customer")), np.uint64(mix(seed, account, "profile"))


def _below(word: npt.NDArray[np.uint64], n: int) -> npt.NDArray[np.int64]:
    """Uniform integers in ``[0, n)`` from the low 32 bits of hashed words (multiply-shift)."""
    return ((word & _U32) * np.uint64(n) >> np.uint64(32)).astype(np.int64)


@dataclass(frozen=True)
class CustomerBlock:
    """Attributes of many customers at once, as arrays aligned with ``numbers``.

    Every attribute is a pure function of (seed, account, number): a customer comes out the same
    whatever block it is generated in (a test checks it), so no table of customers is kept.

    Attributes:
        numbers: customer numbers.
        shopify_id: Shopify customer ids.
        profile_digits: Klaviyo profile ids as ASCII bytes, one 26-byte row per customer (see
            :attr:`profile_id`).
        first: index into :data:`FIRST_NAMES`.
        last: index into :data:`LAST_NAMES`.
        domain: index into :data:`EMAIL_DOMAINS`.
        tags: tag bit mask (see :data:`TAG_SETS`).
        location: index into :data:`LOCATIONS`.
        zip_draw: two-digit draw of the postal code (see :data:`ZIP_CODES`).
    """

    numbers: npt.NDArray[np.int64]
    shopify_id: npt.NDArray[np.int64]
    profile_digits: npt.NDArray[np.uint8]
    first: npt.NDArray[np.int64]
    last: npt.NDArray[np.int64]
    domain: npt.NDArray[np.int64]
    tags: npt.NDArray[np.int64]
    location: npt.NDArray[np.int64]
    zip_draw: npt.NDArray[np.int64]

    @cached_property
    def profile_id(self) -> list[str]:
        """Klaviyo profile ids (26-character ULID-like strings)."""
        text = self.profile_digits.tobytes().decode()
        return [text[i : i + 26] for i in range(0, len(text), 26)]

    def emails(self) -> list[str]:
        """E-mail addresses (``first.last.number@domain``, unique through the number)."""
        firsts = [f.lower() for f in FIRST_NAMES]
        lasts = [x.lower() for x in LAST_NAMES]
        return [
            f"{firsts[f]}.{lasts[la]}.{n}@{EMAIL_DOMAINS[d]}"
            for f, la, n, d in zip(
                self.first.tolist(),
                self.last.tolist(),
                self.numbers.tolist(),
                self.domain.tolist(),
                strict=True,
            )
        ]

    def get(self, i: int) -> Customer:
        """The ``i``-th customer of the block as a :class:`Customer`."""
        first = FIRST_NAMES[int(self.first[i])]
        last = LAST_NAMES[int(self.last[i])]
        number = int(self.numbers[i])
        location = int(self.location[i])
        return Customer(
            number=number,
            shopify_id=int(self.shopify_id[i]),
            profile_id=self.profile_id[i],
            email=f"{first.lower()}.{last.lower()}.{number}@{EMAIL_DOMAINS[int(self.domain[i])]}",
            first_name=first,
            last_name=last,
            tags=TAG_SETS[int(self.tags[i])],
            location=location,
            zip=ZIP_CODES[location][int(self.zip_draw[i])],
        )


def profile_key(seed: int, account: int, numbers: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """The low 64 bits of customers' profile ids: splitmix64 of the salted number, a bijection,
    so distinct customers always get distinct profile ids and an id leads back to its number."""
    return splitmix_array(numbers.astype(np.uint64) ^ _salts(seed, account)[1])


def crockford_digits(
    hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]
) -> npt.NDArray[np.uint8]:
    """The ASCII bytes of :func:`crockford_ids`, one 26-byte row per id."""
    m = len(hi)
    digits = np.empty((m, 26), dtype=np.uint8)
    digits[:, 0] = ord("0")
    digits[:, 1] = ord("1")
    five = np.uint64(31)
    for j in range(24):
        shift = 5 * j
        if shift + 5 <= 64:
            v = (lo >> np.uint64(shift)) & five
        elif shift >= 64:
            v = (hi >> np.uint64(shift - 64)) & five
        else:
            v = ((lo >> np.uint64(shift)) | (hi << np.uint64(64 - shift))) & five
        digits[:, 2 + j] = _CROCKFORD_BYTES[v.astype(np.intp)]
    return digits


def crockford_ids(hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]) -> list[str]:
    """``"01"`` + 24 Crockford base-32 digits of the 120 low bits of ``hi << 64 | lo``, least
    significant digit first (the layout of :func:`~klaviyo_analytics.simulator.ids.ulid_like`)."""
    text = crockford_digits(hi, lo).tobytes().decode()
    return [text[i : i + 26] for i in range(0, len(text), 26)]


def customer_block(seed: int, account: int, numbers: npt.ArrayLike) -> CustomerBlock:
    """Generate customers of a store at once, vectorised (a few microseconds per customer).

    Each attribute comes from splitmix64 words of the customer number salted with (seed,
    account): names, e-mail domain and location uniformly or by the location weights, each tag
    independently with its probability in :data:`TAG_PROBABILITIES`.

    Args:
        seed: store seed.
        account: account index.
        numbers: customer numbers.

    Returns:
        The customers, aligned with ``numbers``.
    """
    nums = np.asarray(numbers, dtype=np.int64).reshape(-1)
    salt, _ = _salts(seed, account)
    with np.errstate(over="ignore"):
        a = splitmix_array(nums.astype(np.uint64) ^ salt)
        b = splitmix_array(a ^ _WORD_KEYS[0])
        c = splitmix_array(a ^ _WORD_KEYS[1])
        d = splitmix_array(a ^ _WORD_KEYS[2])
        tags = np.zeros(len(nums), dtype=np.int64)
        for i, threshold in enumerate(_TAG_THRESHOLDS):
            field = (b >> np.uint64(16 * i)) & np.uint64(0xFFFF)
            tags |= (field < np.uint64(threshold)).astype(np.int64) << i
        key = profile_key(seed, account, nums)
        high = splitmix_array(key ^ _PROFILE_HI_KEY)
    location = np.searchsorted(_LOCATION_CUM, unit_array(c), side="right").astype(np.int64)
    return CustomerBlock(
        numbers=nums,
        shopify_id=CUSTOMER_BASE_ID + account * 100_000_000 + nums,
        profile_digits=crockford_digits(high, key),
        first=_below(a >> np.uint64(32), len(FIRST_NAMES)),
        last=_below(a, len(LAST_NAMES)),
        domain=_below(d, len(EMAIL_DOMAINS)),
        tags=tags,
        location=np.minimum(location, len(LOCATIONS) - 1),
        zip_draw=_below(d >> np.uint64(32), 100),
    )


@lru_cache(maxsize=4096)
def customer(seed: int, account: int, number: int) -> Customer:
    """The customer with the given number in a store (cached; one-element
    :func:`customer_block`, so it always agrees with the vectorised generator).

    Args:
        seed: store seed.
        account: account index.
        number: customer number.

    Returns:
        The customer's attributes.
    """
    return customer_block(seed, account, [number]).get(0)


def profile_number(seed: int, account: int, profile_id: str, customers: int) -> int | None:
    """The number of the customer (among the first ``customers``) with a profile id, or None.

    The id's low 64 bits are :func:`profile_key` of the number, which inverts in O(1).
    """
    if len(profile_id) != 26 or not profile_id.startswith("01"):
        return None
    n = 0
    for j, ch in enumerate(profile_id[2:]):
        k = _CROCKFORD.find(ch)
        if k < 0:
            return None
        n |= k << (5 * j)
    number = unsplitmix(n & ((1 << 64) - 1)) ^ int(_salts(seed, account)[1])
    if number >= customers or customer(seed, account, number).profile_id != profile_id:
        return None
    return number
