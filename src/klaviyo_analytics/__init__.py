"""klaviyo-analytics: a self-hosted analytics warehouse for Klaviyo e-commerce data."""

import os

__version__ = "0.1.0"

#: The allocator setting of the embedded ClickHouse (chDB's jemalloc reads ``JE_MALLOC_CONF``
#: when its library loads, so it is set here, before any module can import chDB; a value the
#: operator sets wins). chDB keeps freed pages for 5 s by default; 1 s lowered the peak RSS of a
#: 1M-order sync by ~70 MB (862 vs 934 MB, means of 4 and 5 runs) at the same throughput, and of
#: its customer-context derivation from 920 to 784 MB (bench/README.md, Sync round 4).
ENGINE_ALLOCATOR_CONF = "dirty_decay_ms:1000"
os.environ.setdefault("JE_MALLOC_CONF", ENGINE_ALLOCATOR_CONF)
