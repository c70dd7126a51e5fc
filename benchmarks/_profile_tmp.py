import asyncio, cProfile, pstats, sys, tempfile, time
from pathlib import Path
from benchmarks import bench_crawl as bench
from orbweaver.clock import SystemClock
from orbweaver.config import Settings
from orbweaver.crawl.media import MediaWorker
from orbweaver.crawl.options import CrawlOptions
from orbweaver.crawl.writer import SightingWriter
from orbweaver.net import AsyncGuardedClient, NetworkPolicy, Resolver
from orbweaver.signals import limit_blas_threads
from orbweaver.store import open_store
import os
n = int(sys.argv[1]); inflight = int(sys.argv[2])
images = [bench.jpeg(i, (640, 480)) for i in range(n)]
routes = bench.site(max(1, n // 20), 20, 1, images)
server, port = bench.start_server(routes)
limit_blas_threads(1)
try:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ORBWEAVER_CRAWL_ALLOW_NETWORKS"] = "127.0.0.1/32"
        app = Settings()
        store = open_store(f"sqlite:///{tmp}/p.db")
        opts = CrawlOptions(media_in_flight=inflight, per_host_concurrency=64, unmatched="compact")
        urls = [p for p in routes if p.startswith("/i/")]
        tasks = [{"url": f"http://127.0.0.1:{port}{p}", "kind": "media", "page_url": None, "via_tor": False, "passwords": []} for p in urls]
        SightingWriter(store, SystemClock(), opts, "", lambda k, v: None).write([], [], tasks)
        policy = NetworkPolicy.from_settings(app, timeout=30, max_redirects=5, media_max_bytes=opts.max_media_bytes)
        client = AsyncGuardedClient(policy, Resolver(app.dns_servers), timeout=30, max_connections=max(16, inflight), user_agent="x")
        w = MediaWorker(opts, policy, client, store, SystemClock(), "", "p")
        prof = cProfile.Profile()
        t0 = time.process_time(); w0 = time.time()
        prof.enable()
        asyncio.run(w.run(lambda: True, lambda: False))
        prof.disable()
        cpu = time.process_time() - t0
        print(f"media {w.stats['media']} wall {time.time()-w0:.2f}s cpu {cpu:.2f}s hash {w.cpu_s:.2f}s outside/media {(cpu - w.cpu_s)/max(1,w.stats['media'])*1000:.2f} ms")
        st = pstats.Stats(prof); st.sort_stats("tottime").print_stats(int(sys.argv[3]) if len(sys.argv)>3 else 25); st.print_callers("_find_and_load_unlocked"); st.print_callers("_find_and_load\b")
finally:
    server.terminate()
